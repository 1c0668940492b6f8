import GlowCore

/// One self-test row's work: runs a backend operation on a given backend with inputs that
/// depend only on the check (so the reference and the device under test see the same
/// values) and returns every output buffer whole, untouched margins included.
///
/// Outputs are allocated NaN-poisoned (`nanFilled`) so an element the
/// operation forgets to write shows as NaN, and inputs sit at offsets inside larger
/// buffers so a wrong offset reads the wrong values.
public protocol OperationCheck: Sendable {
    /// The `Backend` requirement the row exercises (`SelfTestTests` checks that every
    /// operation but the buffer plumbing has a row, and that each row calls its operation).
    var operation: BackendOperation { get }
    /// The `ElementOp` the row runs, when `operation` is `.run` (`SelfTestTests` checks that
    /// every `ElementOp` has a row); nil for the other rows.
    var elementOp: ElementOp? { get }
    /// Sizes and options, for the report.
    var shape: String { get }
    /// How outputs are compared.
    var measure: ErrorMeasure { get }
    /// The largest error that passes.
    var tolerance: Double { get }
    /// Runs the operation on `backend` and downloads its outputs.
    func outputs<B: Backend>(on backend: B) throws -> [[Float]]
    /// For `ErrorMeasure.componentwise`: each output element's scale, the operation run on
    /// `reference` with the absolute values of every input (Σ|a||b| for a product). Other
    /// measures do not use it (the default returns no scales).
    func scales<B: Backend>(on reference: B) throws -> [[Float]]
    /// The outputs computed in Float64 from the same inputs, independently of any backend,
    /// and how a backend's outputs must match them; nil where the check has none (the
    /// default). The test suite runs every backend against it (`SelfTest.run(subject:float64:)`).
    func float64Reference() -> Float64Reference?
}

extension OperationCheck {
    /// The operation's name as the row reports it (an `ElementOp`'s own name for `run`).
    public var op: String { elementOp?.name ?? operation.rawValue }
    public var elementOp: ElementOp? { nil }
    public func scales<B: Backend>(on reference: B) throws -> [[Float]] { [] }
    public func float64Reference() -> Float64Reference? { nil }
}

/// How a self-test compares an output with the reference backend's.
public enum ErrorMeasure: Sendable {
    /// `max |x - r| / (|r| + floor)`: elementwise maps. Outputs that are differences of
    /// terms of size ~1 (a bias subtracted, `1 - s`) use floor 1, an error relative to
    /// `max(|r|, 1)`, since rounding there is absolute; products and quotients use 1e-3.
    case relative(floor: Double)
    /// `max |x - r| / max |r|`: sums whose terms cancel (GEMM, col2im, dots), where an
    /// elementwise error would divide by a near-zero result.
    case normwise
    /// `max |x - r| / s` with `s` the element's scale from `OperationCheck.scales` (the same
    /// sum over the absolute values of its terms): the measure of the classic bound
    /// `|fl(Σ aᵢbᵢ) − Σ aᵢbᵢ| ≤ ε · Σ |aᵢ||bᵢ|`, for reduced-precision (TF32) rows, whose
    /// tolerance is then `ε` itself. An element with scale 0 must be exact. Without scales
    /// (`error(_:_:)`) it is measured as `normwise`.
    case componentwise

    /// The error of `got` against `reference`. A NaN where the reference has a number
    /// (an unwritten element), a number where the reference has NaN (a write outside the
    /// output region), an infinity or a size mismatch gives `.infinity`.
    public func error(_ got: [Float], _ reference: [Float]) -> Double {
        error(got, float64: reference.map(Double.init))
    }

    /// The error of `got` against a Float64 `reference`, as `error(_:_:)`.
    public func error(_ got: [Float], float64 reference: [Double]) -> Double {
        guard got.count == reference.count else { return .infinity }
        var worst = 0.0, scale = 0.0
        for i in 0..<got.count {
            let x = Double(got[i]), r = reference[i]
            if r.isNaN { if !x.isNaN { return .infinity }; continue }
            if !x.isFinite || !r.isFinite { if x != r { return .infinity }; continue }
            switch self {
            case .relative(let floor): worst = max(worst, abs(x - r) / (abs(r) + floor))
            case .normwise, .componentwise: worst = max(worst, abs(x - r)); scale = max(scale, abs(r))
            }
        }
        if case .relative = self { return worst }
        return scale == 0 ? worst : worst / scale
    }

    /// The componentwise error `max |x - r| / s` of `got` against `reference` with the
    /// elements' scales `s` (see `componentwise`); NaN, infinities and size mismatches as in
    /// `error(_:_:)`.
    public func error(_ got: [Float], _ reference: [Float], scale: [Float]) -> Double {
        guard got.count == reference.count, scale.count == reference.count else { return .infinity }
        var worst = 0.0
        for i in 0..<got.count {
            let x = Double(got[i]), r = Double(reference[i]), s = Double(scale[i])
            if r.isNaN { if !x.isNaN { return .infinity }; continue }
            if !x.isFinite || !r.isFinite { if x != r { return .infinity }; continue }
            if s == 0 || !s.isFinite {
                if x != r { return .infinity }
                continue
            }
            worst = max(worst, abs(x - r) / s)
        }
        return worst
    }
}

/// Deterministic inputs for checks: Philox numbers from a fixed seed, one stream per use.
public enum SelfTestInputs {
    /// Seed of every self-test input.
    public static let seed: UInt64 = 0x5E1F_7E57

    /// `count` values from N(0, 1), or U(low, high) when both are given.
    public static func values(_ count: Int, stream: UInt64, low: Float? = nil, high: Float? = nil) -> [Float] {
        if let low, let high {
            return Philox.array(count: count, distribution: .uniform(low: low, high: high), seed: seed, stream: stream)
        }
        return Philox.array(count: count, distribution: .normal, seed: seed, stream: stream)
    }
}

extension Backend {
    /// A buffer of `count` NaNs: an element an operation forgets to write stays NaN.
    func nanFilled(_ count: Int) throws -> Buffer {
        let b = try allocate(count)
        if count > 0 { try fill(b, offset: 0, count: count, value: .nan) }
        return b
    }
}
