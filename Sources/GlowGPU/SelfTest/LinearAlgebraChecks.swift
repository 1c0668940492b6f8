import GlowCore

/// `gemm` with every transpose, offsets and padded leading dimensions on all three
/// matrices, `beta` 0 (C's block NaN-poisoned: C must not be read) or not, and the
/// untouched margins of C compared too (a write outside the block fails).
public struct GemmCheck: OperationCheck {
    /// Sizes: `op(A)` is `m × k`, `op(B)` is `k × n`.
    public let m: Int, n: Int, k: Int
    /// Transposes.
    public let transA: Bool, transB: Bool
    /// The factor of C's old value.
    public let beta: Float
    /// Every input (A, B, C's old values, alpha, beta) replaced by its absolute value: the
    /// run that gives `ErrorMeasure.componentwise` its scales (`|α|·|A||B| + |β|·|C|`).
    var absoluteInputs = false
    public var operation: BackendOperation { .gemm }
    public var shape: String { "\(m)×\(n)×\(k) \(transA ? "T" : "N")\(transB ? "T" : "N") β=\(beta == 0 ? "0" : "\(beta)")" }
    public var measure: ErrorMeasure { .normwise }
    /// Float32 sums of up to a few hundred terms in different orders: ~1e-6 normwise.
    public var tolerance: Double { 2e-5 }

    /// A check of one shape and transpose combination.
    public init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, beta: Float) {
        self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB; self.beta = beta
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let lda = (transA ? m : k) + 2, ldb = (transB ? k : n) + 1, ldc = n + 3
        let input = { (v: [Float]) in absoluteInputs ? v.map(abs) : v }
        let a = input(SelfTestInputs.values((transA ? k : m) * lda + 5, stream: 1))
        let bv = input(SelfTestInputs.values((transB ? n : k) * ldb + 4, stream: 2))
        let c = try b.makeBuffer(input(SelfTestInputs.values(m * ldc + 7, stream: 3)))
        if beta == 0 { for i in 0..<m { try b.fill(c, offset: 7 + i * ldc, count: n, value: .nan) } }
        try b.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1.25, a: try b.makeBuffer(a), aOffset: 5,
                   lda: lda, b: try b.makeBuffer(bv), bOffset: 4, ldb: ldb, beta: absoluteInputs ? abs(beta) : beta, c: c, cOffset: 7, ldc: ldc)
        return [try b.download(c)]
    }
}

/// `im2col3x3` of a CNHW activation read at an offset; every column entry is a copy, so
/// the result must be exact.
public struct Im2colCheck: OperationCheck {
    /// Activation sizes.
    public let channels: Int, images: Int, height: Int, width: Int
    public var operation: BackendOperation { .im2col3x3 }
    public var shape: String { "C\(channels) N\(images) \(height)×\(width)" }
    public var measure: ErrorMeasure { .relative(floor: 1e-3) }
    public var tolerance: Double { 0 }

    /// A check of one activation shape.
    public init(channels: Int, images: Int, height: Int, width: Int) {
        self.channels = channels; self.images = images; self.height = height; self.width = width
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let p = images * height * width
        let x = try b.makeBuffer(SelfTestInputs.values(3 + channels * p, stream: 4))
        let columns = try b.nanFilled(channels * 9 * p)
        try b.im2col3x3(x, xOffset: 3, channels: channels, images: images, height: height, width: width, columns: columns)
        return [try b.download(columns)]
    }
}

/// `col2im3x3`: columns added onto an activation that already holds values, at an offset.
public struct Col2imCheck: OperationCheck {
    /// Activation sizes.
    public let channels: Int, images: Int, height: Int, width: Int
    public var operation: BackendOperation { .col2im3x3 }
    public var shape: String { "C\(channels) N\(images) \(height)×\(width)" }
    public var measure: ErrorMeasure { .normwise }
    /// Sums of at most 9 terms plus the old value.
    public var tolerance: Double { 1e-6 }

    /// A check of one activation shape.
    public init(channels: Int, images: Int, height: Int, width: Int) {
        self.channels = channels; self.images = images; self.height = height; self.width = width
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let p = images * height * width
        let columns = try b.makeBuffer(SelfTestInputs.values(channels * 9 * p, stream: 5))
        let x = try b.makeBuffer(SelfTestInputs.values(3 + channels * p, stream: 6))
        try b.col2im3x3(columns, channels: channels, images: images, height: height, width: width, x: x, xOffset: 3)
        return [try b.download(x)]
    }
}
