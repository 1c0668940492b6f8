import GlowCore

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

/// Every kernel of kernels.cl with its argument list: the checked table every launch goes
/// through (a wrong count or kind is an error at the call, not garbage on the device), and
/// which the OpenCL backend compares with the compiled program's own argument info at
/// start-up, so the table cannot drift from the source.
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

    /// The argument kinds in kernels.cl's order.
    public var arguments: [KernelArgumentKind] {
        switch self {
        case .packPanels: [.buffer, .int, .int, .int, .int, .int, .buffer]
        case .gemmPacked: [.int, .int, .int, .float, .buffer, .int, .int, .int, .buffer, .float, .buffer, .int, .int]
        case .im2col3x3: [.buffer, .int, .int, .int, .int, .buffer]
        case .col2im3x3: [.buffer, .int, .int, .int, .buffer, .int]
        case .rowScale: [.buffer, .float, .buffer, .int]
        case .channelAffine: [.buffer, .int, .int, .buffer, .buffer, .int, .int, .buffer, .int]
        case .binaryOp: [.int, .buffer, .int, .buffer, .int, .buffer, .int, .int]
        case .squeeze2: [.buffer, .buffer, .int, .int, .int, .int, .int]
        case .affineCoupling: [.buffer, .buffer, .int, .int, .int, .buffer, .buffer, .int]
        case .gaussianLogDensity: [.buffer, .int, .buffer, .int, .int, .int, .int, .buffer, .int]
        case .gaussianSample: [.buffer, .buffer, .int, .int, .int, .int, .float, .buffer, .int, .int]
        case .scaleShift: [.buffer, .int, .float, .float, .buffer, .int, .int]
        case .affineCouplingBackward: [.buffer, .buffer, .buffer, .int, .int, .float, .buffer, .buffer, .int]
        case .gaussianBackward: [.buffer, .int, .buffer, .int, .int, .int, .int, .float, .buffer, .int, .buffer, .int]
        case .fillValue: [.buffer, .int, .float, .int]
        case .copy2D: [.buffer, .int, .int, .buffer, .int, .int, .int]
        case .copyStrided: [.buffer, .int, .int, .int, .buffer, .int, .int, .int, .int]
        case .rowSums: [.buffer, .int, .int, .int, .int, .buffer, .int]
        case .rowDots: [.buffer, .buffer, .int, .int, .buffer]
        case .sampleSums: [.buffer, .int, .int, .int, .int, .buffer, .int]
        case .philoxFill: [.buffer, .int, .int, .uint, .uint, .uint, .uint, .int, .float, .float]
        case .gemmTiled: [.int, .int, .int, .float, .buffer, .int, .int, .int, .buffer, .int, .int, .int,
                          .float, .buffer, .int, .int, .int, .int]
        case .gemmSplitKReduce: [.buffer, .int, .int, .int, .float, .float, .buffer, .int, .int]
        case .conv3x3Forward, .conv3x3BackwardData: [.buffer, .int, .buffer, .int, .int, .int, .int, .int, .buffer, .int]
        case .conv3x3BackwardWeights: [.buffer, .int, .buffer, .int, .int, .int, .int, .int, .int, .buffer, .int, .int]
        case .rowSumsWG: [.buffer, .int, .int, .int, .int, .buffer, .int, .int]
        case .rowDotsWG: [.buffer, .buffer, .int, .int, .buffer]
        case .sampleSumsWG: [.buffer, .int, .int, .int, .int, .int, .buffer, .int]
        case .channelAffineExp: [.buffer, .int, .int, .buffer, .buffer, .float, .int, .int, .buffer, .int]
        case .addScaledSum: [.buffer, .int, .int, .float, .buffer, .int, .int]
        case .luWeight, .luInverse: [.buffer, .buffer, .buffer, .buffer, .buffer, .int, .buffer]
        case .luBackward: [.buffer, .buffer, .buffer, .buffer, .buffer, .buffer, .int, .float, .buffer, .buffer, .buffer]
        case .stepDecide: [.buffer, .buffer]
        case .flipTaps3x3: [.buffer, .buffer, .int, .int, .int]
        case .channelAffineBackward: [.buffer, .buffer, .buffer, .float, .int, .int, .float, .buffer, .buffer, .buffer]
        case .dequantize: [.buffer, .int, .int, .int, .int, .float, .buffer, .buffer, .int]
        case .channelAffineBackwardWG: [.buffer, .buffer, .buffer, .float, .int, .float, .int, .buffer, .buffer, .buffer]
        case .arenaUpdate: [.buffer, .buffer, .buffer, .buffer, .buffer, .buffer, .buffer, .float, .float, .float, .int,
                            .float, .int]
        }
    }

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
