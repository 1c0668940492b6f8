/// The precision of the GEMMs the model allows to be reduced (`--precision`).
public enum GEMMPrecision: String, Sendable, CaseIterable {
    /// FP32 everywhere (`cublasSgemm`).
    case fp32
    /// The coupling networks' convolutions on TF32 tensor cores (`cublasGemmEx` with
    /// `CUBLAS_COMPUTE_32F_FAST_TF32`: FP32 storage and accumulation, inputs rounded to a
    /// 10-bit mantissa); every other GEMM stays FP32.
    case tf32
}

/// A backend whose GEMMs can run with reduced-precision inputs (TF32 tensor cores) where the
/// model allows it. The model allows it only inside the coupling networks (their 3×3 and
/// 1×1 convolutions, forward and backward): log-determinants, the invertible 1×1
/// convolutions, priors and the optimizer always see FP32 GEMMs.
public protocol ReducedPrecisionGEMM: AnyObject {
    /// True while the caller allows the next GEMMs to use reduced precision. Whether they do
    /// is the backend's setting (e.g. `--precision tf32`).
    var reducedPrecisionAllowed: Bool { get set }
}

extension Backend {
    /// Runs `body` with reduced-precision GEMMs allowed, on backends that offer them; the
    /// previous state is restored afterwards, also when `body` throws.
    public func allowingReducedPrecision<T>(_ body: () throws -> T) rethrows -> T {
        guard let r = self as? ReducedPrecisionGEMM else { return try body() }
        let before = r.reducedPrecisionAllowed
        r.reducedPrecisionAllowed = true
        defer { r.reducedPrecisionAllowed = before }
        return try body()
    }
}
