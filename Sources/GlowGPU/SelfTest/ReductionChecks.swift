import GlowCore

/// `rowSums` (plain or of squares), `rowDots`, `sampleSums` (fresh or accumulated) and
/// `sumOfSquares` (one slot of a poisoned vector, the gradient norm's terms):
/// Float32 sums in different orders, compared normwise.
public struct ReductionCheck: OperationCheck {
    /// Which reduction.
    public enum Kind: String, Sendable, CaseIterable {
        /// `rowSums` of the values.
        case rowSums
        /// `rowSums` of the squares.
        case rowSumsOfSquares
        /// `rowDots` of two matrices.
        case rowDots
        /// `sampleSums` into a poisoned output.
        case sampleSums
        /// `sampleSums` added onto existing values.
        case sampleSumsAccumulate
        /// `sumOfSquares` of the whole input into slot 2 of a 5-float output.
        case sumOfSquares
    }
    /// The reduction.
    public let kind: Kind
    /// `rows × (images · spatial)` input.
    public let rows: Int, images: Int, spatial: Int
    public var operation: BackendOperation {
        switch kind {
        case .rowSums, .rowSumsOfSquares: .rowSums
        case .rowDots: .rowDots
        case .sampleSums, .sampleSumsAccumulate: .sampleSums
        case .sumOfSquares: .sumOfSquares
        }
    }
    public var shape: String {
        let suffix: String
        switch kind {
        case .rowSumsOfSquares: suffix = " squares"
        case .sampleSumsAccumulate: suffix = " accumulate"
        case .sumOfSquares: return "\(rows * images * spatial) into slot 2 of 5"
        default: suffix = ""
        }
        return kind == .sampleSums || kind == .sampleSumsAccumulate
            ? "\(rows)×\(images)×\(spatial)\(suffix)" : "\(rows)×\(images * spatial)\(suffix)"
    }
    public var measure: ErrorMeasure { .normwise }
    /// Sums of up to a few thousand Float32 terms in another order.
    public var tolerance: Double { 2e-5 }

    /// A check of one reduction.
    public init(_ kind: Kind, rows: Int, images: Int, spatial: Int) {
        self.kind = kind; self.rows = rows; self.images = images; self.spatial = spatial
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let cols = images * spatial
        let x = try b.makeBuffer(SelfTestInputs.values(4 + rows * cols, stream: 22))
        switch kind {
        case .rowSums, .rowSumsOfSquares:
            let out = try b.nanFilled(rows)
            try b.rowSums(x, xOffset: 4, rows: rows, cols: cols, squares: kind == .rowSumsOfSquares, out: out)
            return [try b.download(out)]
        case .rowDots:
            let a = try b.makeBuffer(SelfTestInputs.values(rows * cols, stream: 23))
            let c = try b.makeBuffer(SelfTestInputs.values(rows * cols, stream: 24))
            let out = try b.nanFilled(rows)
            try b.rowDots(a, c, rows: rows, cols: cols, out: out)
            return [try b.download(out)]
        case .sampleSums, .sampleSumsAccumulate:
            let accumulate = kind == .sampleSumsAccumulate
            let out = accumulate ? try b.makeBuffer(SelfTestInputs.values(images, stream: 25)) : try b.nanFilled(images)
            try b.sampleSums(x, xOffset: 4, rows: rows, images: images, spatial: spatial, out: out, accumulate: accumulate)
            return [try b.download(out)]
        case .sumOfSquares:
            // The other slots must stay untouched: they come back as they went in (NaN).
            let out = try b.nanFilled(5)
            try b.sumOfSquares(x, count: 4 + rows * cols, out: out, outIndex: 2)
            let v = try b.download(out)
            guard v.enumerated().allSatisfy({ $0.offset == 2 || $0.element.isNaN }) else {
                throw GlowError("sumOfSquares wrote outside out[outIndex]: \(v)")
            }
            return [[v[2]]]
        }
    }
}
