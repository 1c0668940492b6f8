import GlowCore
import Kernels

/// A kernel of kernels.cl, by name. The kernels are read from the source itself (`all`),
/// so the devices build exactly what kernels.cl defines; the constants below name those the
/// Swift launches call by name, and an `ElementOp`'s kernel is found by its own name
/// (`init(_:)`), so a new operation run as data needs nothing here. Each launch is checked
/// against the kernel's argument list as kernels.cl declares it (a wrong count or kind, or a
/// name kernels.cl lacks, is an error at the call, not garbage on the device); the OpenCL
/// backend also compares that list with the compiled program's own argument info at start-up.
public struct Kernel: Hashable, Sendable, CustomStringConvertible {
    /// The kernel's name in kernels.cl.
    public let name: String
    /// The kernel called `name`.
    init(named name: String) { self.name = name }
    /// The kernel that runs `op` (kernels.cl's kernel of the op's name).
    public init(_ op: ElementOp) { name = op.kernelName }
    public var description: String { name }

    /// Every kernel kernels.cl defines, in name order: what a device builds.
    public static let all: [Kernel] = KernelSignatures.all.keys.sorted().map(Kernel.init(named:))

    public static let packPanels = Kernel(named: "pack_panels")
    public static let gemmPacked = Kernel(named: "gemm_packed")
    public static let im2col3x3 = Kernel(named: "im2col3x3")
    public static let col2im3x3 = Kernel(named: "col2im3x3")
    public static let rowScale = Kernel(named: "row_scale")
    public static let channelAffine = Kernel(named: "channel_affine")
    public static let binaryOp = Kernel(named: "binary_op")
    public static let squeeze2 = Kernel(named: "squeeze2")
    public static let affineCoupling = Kernel(named: "affine_coupling")
    public static let gaussianLogDensity = Kernel(named: "gaussian_log_density")
    public static let gaussianSample = Kernel(named: "gaussian_sample")
    public static let affineCouplingBackward = Kernel(named: "affine_coupling_backward")
    public static let gaussianBackward = Kernel(named: "gaussian_backward")
    public static let fillValue = Kernel(named: "fill_value")
    public static let copy2D = Kernel(named: "copy_2d")
    public static let copyStrided = Kernel(named: "copy_strided")
    public static let rowSums = Kernel(named: "row_sums")
    public static let rowDots = Kernel(named: "row_dots")
    public static let sampleSums = Kernel(named: "sample_sums")
    public static let philoxFill = Kernel(named: "philox_fill")
    // GPU variant (kernels.cl's "GPU variant" section).
    public static let gemmTiled = Kernel(named: "gemm_tiled")
    public static let gemmSplitKReduce = Kernel(named: "gemm_splitk_reduce")
    public static let conv3x3Forward = Kernel(named: "conv3x3_forward")
    public static let conv3x3BackwardData = Kernel(named: "conv3x3_backward_data")
    public static let conv3x3BackwardWeights = Kernel(named: "conv3x3_backward_weights")
    public static let rowSumsWG = Kernel(named: "row_sums_wg")
    public static let rowDotsWG = Kernel(named: "row_dots_wg")
    public static let sampleSumsWG = Kernel(named: "sample_sums_wg")
    public static let channelAffineExp = Kernel(named: "channel_affine_exp")
    // The training step on the device (both variants).
    public static let addScaledSum = Kernel(named: "add_scaled_sum")
    public static let luWeight = Kernel(named: "lu_weight")
    public static let luInverse = Kernel(named: "lu_inverse")
    public static let luBackward = Kernel(named: "lu_backward")
    public static let stepDecide = Kernel(named: "step_decide")
    public static let arenaUpdate = Kernel(named: "arena_update")
    public static let channelAffineBackward = Kernel(named: "channel_affine_backward")
    public static let channelAffineBackwardWG = Kernel(named: "channel_affine_backward_wg")
    public static let dequantize = Kernel(named: "dequantize")

    /// The argument kinds in kernels.cl's order, read from its declaration
    /// (`KernelSignatures`): the kernel source is the one place they are written.
    public var arguments: [OpArgumentKind] { KernelSignatures.all[name] ?? [] }

    /// Throws unless `args` match `arguments` in count and kind and every `int` fits 32 bits.
    public func check<B>(_ args: [OpArgument<B>]) throws {
        guard KernelSignatures.all[name] != nil else {
            throw GlowError("kernel \(name): kernels.cl defines no kernel of that name")
        }
        let kinds = args.map(\.kind)
        guard kinds == arguments else {
            throw GlowError("kernel \(name): launched with (\(kinds.map(\.description).joined(separator: ", "))) but "
                + "kernels.cl declares (\(arguments.map(\.description).joined(separator: ", ")))")
        }
        for (i, a) in args.enumerated() {
            if case let .int(v) = a, Int32(exactly: v) == nil {
                throw GlowError("kernel \(name): argument \(i) = \(v) exceeds the kernels' 32-bit index range")
            }
        }
    }
}

/// The argument kinds of every `__kernel` in kernels.cl, read once from the embedded source:
/// `__global … *` is a buffer, `int`, `uint` and `float` are themselves.
public enum KernelSignatures {
    /// Kernel name → argument kinds (nil kinds are types the launches cannot pass).
    public static let all: [String: [OpArgumentKind]] = parse(String(cString: glow_kernels_source_ptr()))

    /// The signatures in `source`: for each `__kernel … void NAME(PARAMS)`, the kinds of
    /// its parameters; a parameter of any other type is left out, which the launch check
    /// and the OpenCL start-up check then report as a count mismatch.
    public static func parse(_ source: String) -> [String: [OpArgumentKind]] {
        var out: [String: [OpArgumentKind]] = [:]
        var rest = Substring(source)
        while let k = rest.range(of: "__kernel"), let v = rest[k.upperBound...].range(of: "void"),
              let open = rest[v.upperBound...].firstIndex(of: "("), let close = rest[open...].firstIndex(of: ")") {
            let name = rest[v.upperBound..<open].trimmingCharacters(in: .whitespacesAndNewlines)
            out[name] = rest[rest.index(after: open)..<close].split(separator: ",").compactMap { p in
                if p.contains("*") { return .buffer }
                switch p.split(whereSeparator: \.isWhitespace).dropLast().last {
                case "int": return .int
                case "uint": return .uint
                case "float": return .float
                default: return nil
                }
            }
            rest = rest[close...]
        }
        return out
    }
}
