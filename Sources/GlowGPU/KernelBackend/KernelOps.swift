import GlowCore
import Kernels

/// kernels.cl as the backends compile it: glow_ops.h (operation codes and tunable defaults),
/// then kernels.cl, with `#line` markers so that build logs name the right file and line.
public enum KernelSource {
    /// glow_ops.h and kernels.cl, as embedded in the binary.
    public static var text: String {
        "#line 1 \"glow_ops.h\"\n" + String(cString: glow_ops_source_ptr())
            + "\n#line 1 \"kernels.cl\"\n" + String(cString: glow_kernels_source_ptr())
    }
}

extension BinaryOp {
    /// `binary_op`'s `op` for this function (glow_ops.h).
    var kernelCode: Int {
        switch self {
        case .add: Int(GLOW_BINARY_ADD)
        case .subtract: Int(GLOW_BINARY_SUBTRACT)
        case .reluBackward: Int(GLOW_BINARY_RELU_BACKWARD)
        }
    }
}

/// A constant of kernels.cl that the tuning sets (`-D NAME=V`); its default is glow_ops.h's
/// `GLOW_DEFAULT_NAME`, the one kernels.cl falls back on.
public enum Tunable: String, CaseIterable, Sendable {
    case gemmTV = "GEMM_TV", gemmLocal = "GEMM_LOCAL", wgElementwise = "WG_ELEMENTWISE"
    case mwg = "MWG", nwg = "NWG", kwg = "KWG", mdimc = "MDIMC", ndimc = "NDIMC", vwm = "VWM", vwn = "VWN"
    case wgReduce = "WG_REDUCE", groupsTarget = "GROUPS_TARGET", groupsPerCU = "GROUPS_PER_CU"

    /// The name kernels.cl and `GLOW_CL_TUNING` use.
    public var name: String { rawValue }

    /// glow_ops.h's default.
    public var defaultValue: Int {
        switch self {
        case .gemmTV: Int(GLOW_DEFAULT_GEMM_TV)
        case .gemmLocal: Int(GLOW_DEFAULT_GEMM_LOCAL)
        case .wgElementwise: Int(GLOW_DEFAULT_WG_ELEMENTWISE)
        case .mwg: Int(GLOW_DEFAULT_MWG)
        case .nwg: Int(GLOW_DEFAULT_NWG)
        case .kwg: Int(GLOW_DEFAULT_KWG)
        case .mdimc: Int(GLOW_DEFAULT_MDIMC)
        case .ndimc: Int(GLOW_DEFAULT_NDIMC)
        case .vwm: Int(GLOW_DEFAULT_VWM)
        case .vwn: Int(GLOW_DEFAULT_VWN)
        case .wgReduce: Int(GLOW_DEFAULT_WG_REDUCE)
        case .groupsTarget: Int(GLOW_DEFAULT_GROUPS_TARGET)
        case .groupsPerCU: Int(GLOW_DEFAULT_GROUPS_PER_CU)
        }
    }

    /// What it sets, and in which variant.
    public var summary: String {
        switch self {
        case .gemmTV: "cpu: float16 vectors per row of gemm_packed's register tile (must be 4)"
        case .gemmLocal: "cpu: work-group size of gemm_packed (PoCL: 1 to 16)"
        case .wgElementwise: "work-group size of the elementwise kernels"
        case .mwg: "gpu: rows of C per work-group tile (GEMM, convolutions)"
        case .nwg: "gpu: columns of C per work-group tile"
        case .kwg: "gpu: K slice staged in __local per step"
        case .mdimc: "gpu: work-items along M per group (MWG/MDIMC rows each)"
        case .ndimc: "gpu: work-items along N per group (NWG/NDIMC columns each)"
        case .vwm: "gpu: width of the __local vectors a work-item reads along M (1, 2 or 4; divides MWG/MDIMC)"
        case .vwn: "gpu: width of the __local vectors a work-item reads along N (1, 2 or 4; divides NWG/NDIMC)"
        case .wgReduce: "gpu: work-items per reduction group (power of two)"
        case .groupsTarget: "gpu: work-groups a launch should have to fill the device (split-K, reduction chunks)"
        case .groupsPerCU: "gpu: groups resident per compute unit, for GROUPS_TARGET = compute units × this"
        }
    }
}

extension KernelTuning {
    /// The value of `t`: the tuning's, else glow_ops.h's default.
    public subscript(_ t: Tunable) -> Int { values[t.name] ?? t.defaultValue }
}
