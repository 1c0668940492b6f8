import GlowCore
import Kernels

/// The kind of one kernel argument, as declared in kernels.cl.
public enum KernelArgumentKind: Sendable, Equatable, CustomStringConvertible {
    /// `__global float*` (a device buffer).
    case buffer
    /// `int`.
    case int
    /// `uint`.
    case uint
    /// `float`.
    case float

    public var description: String {
        switch self {
        case .buffer: "__global float*"
        case .int: "int"
        case .uint: "uint"
        case .float: "float"
        }
    }
}

/// One argument of a kernel launch.
public enum KernelArgument<Buffer> {
    /// A device buffer of the launching backend.
    case buffer(Buffer)
    /// A size, offset or flag, passed as a 32-bit `int` (the launch checks that it fits).
    case int(Int)
    /// A 32-bit unsigned integer (seeds).
    case uint(UInt32)
    /// A 32-bit float.
    case float(Float)

    /// The argument's kind.
    public var kind: KernelArgumentKind {
        switch self {
        case .buffer: .buffer
        case .int: .int
        case .uint: .uint
        case .float: .float
        }
    }
}

/// Every kernel of kernels.cl. Each launch is checked against the kernel's argument list as
/// kernels.cl declares it (a wrong count or kind is an error at the call, not garbage on the
/// device); the OpenCL backend also compares that list with the compiled program's own
/// argument info at start-up, and a test checks that the cases are exactly kernels.cl's kernels.
public enum Kernel: String, CaseIterable, Sendable {
    case packPanels = "pack_panels"
    case gemmPacked = "gemm_packed"
    case im2col3x3 = "im2col3x3"
    case col2im3x3 = "col2im3x3"
    case rowScale = "row_scale"
    case channelAffine = "channel_affine"
    case binaryOp = "binary_op"
    case squeeze2 = "squeeze2"
    case affineCoupling = "affine_coupling"
    case gaussianLogDensity = "gaussian_log_density"
    case gaussianSample = "gaussian_sample"
    case scaleShift = "scale_shift"
    case affineCouplingBackward = "affine_coupling_backward"
    case gaussianBackward = "gaussian_backward"
    case fillValue = "fill_value"
    case copy2D = "copy_2d"
    case copyStrided = "copy_strided"
    case rowSums = "row_sums"
    case rowDots = "row_dots"
    case sampleSums = "sample_sums"
    case philoxFill = "philox_fill"
    // GPU variant (kernels.cl's "GPU variant" section).
    case gemmTiled = "gemm_tiled"
    case gemmSplitKReduce = "gemm_splitk_reduce"
    case conv3x3Forward = "conv3x3_forward"
    case conv3x3BackwardData = "conv3x3_backward_data"
    case conv3x3BackwardWeights = "conv3x3_backward_weights"
    case rowSumsWG = "row_sums_wg"
    case rowDotsWG = "row_dots_wg"
    case sampleSumsWG = "sample_sums_wg"
    case channelAffineExp = "channel_affine_exp"
    // The training step on the device (both variants).
    case addScaledSum = "add_scaled_sum"
    case luWeight = "lu_weight"
    case luInverse = "lu_inverse"
    case luBackward = "lu_backward"
    case stepDecide = "step_decide"
    case arenaUpdate = "arena_update"
    case flipTaps3x3 = "flip_taps3x3"
    case channelAffineBackward = "channel_affine_backward"
    case channelAffineBackwardWG = "channel_affine_backward_wg"
    case dequantize = "dequantize"

    /// The kernel's name in kernels.cl.
    public var name: String { rawValue }

    /// The argument kinds in kernels.cl's order, read from its declaration
    /// (`KernelSignatures`): the kernel source is the one place they are written.
    public var arguments: [KernelArgumentKind] { KernelSignatures.all[name] ?? [] }

    /// Throws unless `args` match `arguments` in count and kind and every `int` fits 32 bits.
    public func check<B>(_ args: [KernelArgument<B>]) throws {
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
    public static let all: [String: [KernelArgumentKind]] = parse(String(cString: glow_kernels_source_ptr()))

    /// The signatures in `source`: for each `__kernel … void NAME(PARAMS)`, the kinds of
    /// its parameters; a parameter of any other type is left out, which the launch check
    /// and the OpenCL start-up check then report as a count mismatch.
    public static func parse(_ source: String) -> [String: [KernelArgumentKind]] {
        var out: [String: [KernelArgumentKind]] = [:]
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
