import GlowCore

/// The error TF32 GEMMs may have, as a componentwise bound: for an output
/// `c = Σᵢ₌₁ⁿ aᵢbᵢ`, `|ĉ − c_ref| ≤ tol(n) · Σ |aᵢ||bᵢ|`, where `c_ref` is the FP32 reference.
///
/// - Each input converted to TF32 keeps 10 explicit mantissa bits, 11 significant bits: the
///   conversion errs by less than `ε = 2⁻¹⁰` relative when it truncates (as tensor cores may),
///   `2⁻¹¹` when it rounds. A product of two converted inputs (exact in FP32) is off by less
///   than `2ε + ε²` relative.
/// - The products are summed in FP32, in an order of the library's choosing. Bounding each
///   addition by twice FP32's unit roundoff `u = 2⁻²⁴` (tensor cores may truncate within an
///   MMA) gives `γ(2n)` with `γ(m) = m·u / (1 − m·u)` relative to `Σ|aᵢbᵢ|`; the reference's
///   own FP32 sum adds `γ(n)`.
///
/// So `tol(n) = (2ε + ε²)(1 + γ(2n)) + γ(2n) + γ(n)`: 2.0e-3 for a short sum, 2.8e-3 for the
/// 4608 terms of a 3×3 convolution over 512 channels. The bound is worst-case (every error
/// with the same sign); random rounding errors stay far below it, while an operation that
/// computes something else, or converts to fewer mantissa bits (bfloat16's 7), fails it.
public enum TF32Tolerance {
    /// The largest relative error of one input converted to TF32: `2⁻¹⁰`.
    public static let inputError = 0x1p-10
    /// FP32's unit roundoff, `2⁻²⁴`.
    public static let fp32UnitRoundoff = 0x1p-24

    /// `γ(m) = m·u / (1 − m·u)` for FP32's `u`: the relative bound of an m-term FP32 sum.
    public static func gamma(_ m: Int) -> Double {
        let mu = Double(m) * fp32UnitRoundoff
        return mu / (1 - mu)
    }

    /// The componentwise tolerance for sums of `terms` products (see the type's comment).
    public static func componentwise(terms: Int) -> Double {
        let e = inputError, n = max(terms, 1)
        return (2 * e + e * e) * (1 + gamma(2 * n)) + gamma(2 * n) + gamma(n)
    }
}

/// A GEMM-based operation (`gemm`, or a 3×3 convolution, which is GEMMs on im2col columns)
/// run with reduced-precision GEMMs allowed (`Backend.allowingReducedPrecision`), as the
/// coupling networks run them: on a CUDA backend opened with `--precision tf32` they go
/// through `cublasGemmEx` with TF32 tensor cores. Compared with the FP32 reference
/// componentwise (`ErrorMeasure.componentwise`) against `TF32Tolerance`, with the number of
/// terms each output sums as the reduction length.
public struct ReducedPrecisionCheck: OperationCheck {
    enum Base: Sendable {
        case gemm(GemmCheck)
        case conv3x3(Conv3x3Check)
    }
    let base: Base
    /// Terms summed into each output element (products, plus C's old value when it is
    /// accumulated onto).
    public let terms: Int

    /// A GEMM row: `k` products, plus `β·C`.
    public init(_ gemm: GemmCheck) {
        base = .gemm(gemm)
        terms = gemm.k + (gemm.beta == 0 ? 0 : 1)
    }

    /// A 3×3 convolution row: 9·C products forward, 9·O plus the old dx for the data
    /// gradient, N·H·W for the weight gradient.
    public init(_ conv: Conv3x3Check) {
        base = .conv3x3(conv)
        switch conv.kind {
        case .forward: terms = 9 * conv.inChannels
        case .backwardData: terms = 9 * conv.outChannels + 1
        case .backwardWeights: terms = conv.images * conv.height * conv.width
        }
    }

    var check: any OperationCheck {
        switch base {
        case let .gemm(g): return g
        case let .conv3x3(c): return c
        }
    }

    public var operation: BackendOperation { check.operation }
    public var elementOp: ElementOp? { check.elementOp }
    public var shape: String { check.shape + " tf32 n=\(terms)" }
    public var measure: ErrorMeasure { .componentwise }
    public var tolerance: Double { TF32Tolerance.componentwise(terms: terms) }

    public func outputs<B: Backend>(on backend: B) throws -> [[Float]] {
        try backend.allowingReducedPrecision { try check.outputs(on: backend) }
    }

    /// The same operation on the absolute values of its inputs, in FP32.
    public func scales<B: Backend>(on reference: B) throws -> [[Float]] {
        switch base {
        case var .gemm(g):
            g.absoluteInputs = true
            return try g.outputs(on: reference)
        case var .conv3x3(c):
            c.absoluteInputs = true
            return try c.outputs(on: reference)
        }
    }
}

extension SelfTest {
    /// The rows `selftest --precision tf32` adds: every operation TF32 reaches, with reduced
    /// precision allowed. GEMM with every transpose at a short (k = 3) and a medium reduction,
    /// β 0 and not; Glow's three training shapes; one long reduction (k = 4608, a 3×3
    /// convolution over 512 channels); and the three 3×3 convolution passes with a narrower
    /// output (Conv2dZeros' lowering) and a wider one.
    public static var reducedPrecisionChecks: [any OperationCheck] {
        var checks: [any OperationCheck] = []
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            checks.append(ReducedPrecisionCheck(GemmCheck(m: 7, n: 5, k: 3, transA: ta, transB: tb, beta: 0)))
            checks.append(ReducedPrecisionCheck(GemmCheck(m: 67, n: 131, k: 45, transA: ta, transB: tb, beta: 0.5)))
        }
        checks += [GemmCheck(m: 48, n: 1030, k: 300, transA: false, transB: false, beta: 0),
                   GemmCheck(m: 300, n: 1030, k: 48, transA: true, transB: false, beta: 0),
                   GemmCheck(m: 48, n: 300, k: 1030, transA: false, transB: true, beta: 0.5),
                   GemmCheck(m: 16, n: 96, k: 4608, transA: false, transB: false, beta: 0)].map(ReducedPrecisionCheck.init)
        for (ci, co, n, h, w) in [(17, 12, 3, 9, 6), (40, 70, 2, 14, 13)] {
            checks += Conv3x3Check.Kind.allCases.map {
                ReducedPrecisionCheck(Conv3x3Check($0, inChannels: ci, outChannels: co, images: n, height: h, width: w))
            }
        }
        return checks
    }
}
