import GlowCore

/// `fill`, `copy2D` and `copyStrided` on regions inside larger buffers: copies are exact,
/// and everything outside the region must keep its old value.
public struct MemoryCheck: OperationCheck {
    /// Which memory operation.
    public enum Kind: String, Sendable, CaseIterable {
        /// `fill` of a middle region.
        case fill
        /// `copy2D` between different row strides.
        case copy2D
        /// `copyStrided` as a transposing gather into a strided target.
        case copyStrided

        var operation: BackendOperation {
            switch self {
            case .fill: .fill
            case .copy2D: .copy2D
            case .copyStrided: .copyStrided
            }
        }
    }
    /// The operation.
    public let kind: Kind
    /// Rows and columns of the block (elements for `fill`).
    public let rows: Int, cols: Int
    public var operation: BackendOperation { kind.operation }
    public var shape: String { kind == .fill ? "\(rows * cols) at offset 5" : "\(rows)×\(cols) strided" }
    public var measure: ErrorMeasure { .relative(floor: 1e-3) }
    public var tolerance: Double { 0 }

    /// A check of one operation on a `rows × cols` block.
    public init(_ kind: Kind, rows: Int, cols: Int) { self.kind = kind; self.rows = rows; self.cols = cols }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        switch kind {
        case .fill:
            let y = try b.makeBuffer(SelfTestInputs.values(rows * cols + 9, stream: 7))
            try b.fill(y, offset: 5, count: rows * cols, value: 2.5)
            return [try b.download(y)]
        case .copy2D:
            let src = try b.makeBuffer(SelfTestInputs.values(3 + rows * (cols + 4), stream: 8))
            let dst = try b.makeBuffer(SelfTestInputs.values(1 + rows * (cols + 2), stream: 9))
            try b.copy2D(src, srcOffset: 3, srcStride: cols + 4, dst, dstOffset: 1, dstStride: cols + 2, rows: rows, cols: cols)
            return [try b.download(dst)]
        case .copyStrided:
            // Source read transposed (row stride 1, column stride rows + 2); target columns 2 apart.
            let src = try b.makeBuffer(SelfTestInputs.values(2 + cols * (rows + 2), stream: 10))
            let dst = try b.makeBuffer(SelfTestInputs.values(3 + rows * (2 * cols + 1), stream: 11))
            try b.copyStrided(src, srcOffset: 2, srcRowStride: 1, srcColStride: rows + 2, dst, dstOffset: 3,
                              dstRowStride: 2 * cols + 1, dstColStride: 2, rows: rows, cols: cols)
            return [try b.download(dst)]
        }
    }
}
