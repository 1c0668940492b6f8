import Foundation

/// The invertible 1×1 convolution `y[:, o] = Σ_i W[o, i] · x[:, i]`, logdet `+= H·W·log|det W|`.
/// Plain (W trained directly) or LU-decomposed, `W = P · L · (U + diag(sign_s ⊙ exp(log_s)))`,
/// where logdet is `H·W·Σ log_s`. `W`, `W⁻¹` and `log|det W|` are computed on the host in
/// Float64 by `refresh()`, once per weight update, and uploaded; a batch is one GEMM.
public final class InvertibleConv1x1<B: Backend> {
    /// Plain: `weight` `[C, C]`. LU: `p`, `lower`, `upper` `[C, C]`, `log_s`, `sign_s` `[C]`.
    public let parameters: [Parameter<B>]
    let backend: B
    let channels: Int
    let lu: Bool
    /// W and W⁻¹ as used by forward and reverse (derived, not checkpointed, for LU).
    let weight: B.Buffer
    let inverse: B.Buffer
    /// log|det W|.
    private(set) var logAbsDet: Double = 0
    /// W⁻¹ in Float64, row-major (for the log-determinant's gradient).
    private(set) var inverse64: [Double] = []
    /// The LU factors as of the last `refresh()`, kept for the backward pass so that it
    /// does not download the parameters again (five host waits per step and layer).
    private var factors64: (p: Matrix64, l: Matrix64, u: Matrix64)?

    /// A random orthogonal W (LU factors taken from it when `lu`).
    public init(_ backend: B, channels c: Int, lu: Bool, prefix: String, seed: UInt64, stream: UInt64) throws {
        self.backend = backend; channels = c; self.lu = lu
        let w = Matrix64.randomOrthogonal(c, seed: seed, stream: stream)
        if lu {
            guard let (p, l, u) = w.luDecomposition() else { throw GlowError("\(prefix): random W is singular") }
            var upper = u, logS = [Float](), signS = [Float]()
            for i in 0..<c {
                let d = u[i, i]
                logS.append(Float(Foundation.log(abs(d)))); signS.append(d < 0 ? -1 : 1)
                upper[i, i] = 0
            }
            parameters = [
                try Parameter(backend, name: prefix + ".p", shape: [c, c], values: p.floats, trainable: false),
                try Parameter(backend, name: prefix + ".lower", shape: [c, c], values: l.floats),
                try Parameter(backend, name: prefix + ".upper", shape: [c, c], values: upper.floats),
                try Parameter(backend, name: prefix + ".log_s", shape: [c], values: logS),
                try Parameter(backend, name: prefix + ".sign_s", shape: [c], values: signS, trainable: false),
            ]
        } else {
            parameters = [try Parameter(backend, name: prefix + ".weight", shape: [c, c], values: w.floats)]
        }
        weight = try backend.allocate(c * c)
        inverse = try backend.allocate(c * c)
        try refresh()
    }

    /// The LU factors in Float64 from the current parameters: P, unit lower L, and
    /// `Ũ = U + diag(sign_s ⊙ exp(log_s))` (LU variant only).
    /// Also returns `Σ log_s` (= log|det W|) from the same download.
    func factors() throws -> (p: Matrix64, l: Matrix64, u: Matrix64, logSSum: Double) {
        let c = channels
        let v = try parameters.map { try backend.download($0.value).map(Double.init) }
        let (p, lower, upper, logS, signS) = (v[0], v[1], v[2], v[3], v[4])
        var l = Matrix64.identity(c), u = Matrix64(zeros: c)
        for i in 0..<c {
            for j in 0..<c {
                if j < i { l[i, j] = lower[i * c + j] }
                if j > i { u[i, j] = upper[i * c + j] }
            }
            u[i, i] = signS[i] * Foundation.exp(logS[i])
        }
        return (try Matrix64(n: c, values: p), l, u, logS.reduce(0, +))
    }

    /// The matrix W in Float64 from the current parameters.
    public func matrix() throws -> Matrix64 {
        if !lu { return try Matrix64(n: channels, values: try backend.download(parameters[0].value).map(Double.init)) }
        let (p, l, u, _) = try factors()
        return p * l * u
    }

    /// Recomputes W, W⁻¹ and log|det W| from the parameters and uploads them.
    public func refresh() throws {
        let w: Matrix64
        var logSSum = 0.0
        if lu {
            let f = try factors()
            factors64 = (f.p, f.l, f.u)
            logSSum = f.logSSum
            w = f.p * f.l * f.u
        } else {
            w = try matrix()
        }
        guard let (inv, logdet) = w.inverseAndLogAbsDet() else {
            throw GlowError("\(parameters[0].name): the 1×1 convolution's W is singular")
        }
        logAbsDet = lu ? logSSum : logdet
        inverse64 = inv.values
        try backend.upload(w.floats, to: weight, offset: 0)
        try backend.upload(inv.floats, to: inverse, offset: 0)
    }

    /// `y = W x`, logdet `+= H·W·log|det W|`.
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> Tensor<B> {
        ctx.logdetConstant += Double(x.spatial) * logAbsDet
        return try apply(weight, x)
    }

    /// `x = W⁻¹ y`.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> { try apply(inverse, y) }

    func apply(_ m: B.Buffer, _ x: Tensor<B>) throws -> Tensor<B> {
        let y = try Tensor(backend, images: x.images, channels: channels, height: x.height, width: x.width)
        try backend.gemm(transA: false, transB: false, m: channels, n: x.cols, k: channels, alpha: 1, a: m, aOffset: 0,
                         lda: channels, b: x.buffer, bOffset: 0, ldb: x.cols, beta: 0, c: y.buffer, cOffset: 0, ldc: x.cols)
        return y
    }
}

/// A fixed channel permutation, `y[:, o] = x[:, indices[o]]`: `reverse` (the RealNVP
/// choice) or `shuffle` (a random permutation stored as `shuffle.indices`). logdet 0.
public final class ChannelPermutation<B: Backend> {
    /// `y[:, o] = x[:, indices[o]]`.
    public private(set) var indices: [Int]
    /// The checkpoint name of `indices` (shuffle only).
    public let name: String?
    let backend: B
    var forwardMatrix: B.Buffer, reverseMatrix: B.Buffer

    /// The reversal (`shuffle == false`) or a random permutation from `seed`/`stream`.
    public init(_ backend: B, channels c: Int, shuffle: Bool, prefix: String, seed: UInt64, stream: UInt64) throws {
        self.backend = backend
        if shuffle {
            // Fisher–Yates with Philox uniforms.
            let u = Philox.array(count: c, distribution: .uniform(low: 0, high: 1), seed: seed, stream: stream)
            var idx = Array(0..<c)
            for i in stride(from: c - 1, to: 0, by: -1) { idx.swapAt(i, min(i, Int(u[i] * Float(i + 1)))) }
            indices = idx
            name = prefix + ".indices"
        } else {
            indices = (0..<c).reversed()
            name = nil
        }
        forwardMatrix = try backend.allocate(c * c)
        reverseMatrix = try backend.allocate(c * c)
        try setIndices(indices)
    }

    /// Replaces the permutation (from a checkpoint); throws unless `idx` is a permutation.
    public func setIndices(_ idx: [Int]) throws {
        let c = indices.count
        guard idx.count == c, Set(idx) == Set(0..<c) else {
            throw GlowError("\(name ?? "permutation"): \(idx) is not a permutation of 0..<\(c)")
        }
        indices = idx
        var f = [Float](repeating: 0, count: c * c), r = f
        for o in 0..<c { f[o * c + idx[o]] = 1; r[idx[o] * c + o] = 1 }
        try backend.upload(f, to: forwardMatrix, offset: 0)
        try backend.upload(r, to: reverseMatrix, offset: 0)
    }

    /// `y[:, o] = x[:, indices[o]]`, as a GEMM with the permutation matrix.
    public func forward(_ x: Tensor<B>) throws -> Tensor<B> { try apply(forwardMatrix, x) }
    /// The inverse permutation.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> { try apply(reverseMatrix, y) }

    func apply(_ m: B.Buffer, _ x: Tensor<B>) throws -> Tensor<B> {
        let c = indices.count
        let y = try Tensor(backend, images: x.images, channels: c, height: x.height, width: x.width)
        try backend.gemm(transA: false, transB: false, m: c, n: x.cols, k: c, alpha: 1, a: m, aOffset: 0, lda: c,
                         b: x.buffer, bOffset: 0, ldb: x.cols, beta: 0, c: y.buffer, cOffset: 0, ldc: x.cols)
        return y
    }
}

extension InvertibleConv1x1 {
    /// Backward from the input `x` and `dy`: `dx = Wᵀ · dy`, and the parameter gradients
    /// from `∂W = dy · xᵀ + N·H·W·∂loss/∂logdet · W⁻ᵀ`, taken to the LU factors on the host
    /// in Float64 (C × C is small): with `W = P·L·Ũ`, `∂L = strict_lower(Pᵀ ∂W Ũᵀ)`,
    /// `∂Ũ = upper(Lᵀ Pᵀ ∂W)`, `∂log_s = diag(∂Ũ) ⊙ sign_s ⊙ exp(log_s) + N·H·W·∂loss/∂logdet`.
    public func backward(input x: Tensor<B>, dy: Tensor<B>, logdetGrad: Float) throws -> Tensor<B> {
        let c = channels, p = x.cols
        let dx = try Tensor(backend, images: x.images, channels: c, height: x.height, width: x.width)
        try backend.gemm(transA: true, transB: false, m: c, n: p, k: c, alpha: 1, a: weight, aOffset: 0, lda: c,
                         b: dy.buffer, bOffset: 0, ldb: p, beta: 0, c: dx.buffer, cOffset: 0, ldc: p)
        let dwBuffer = try backend.allocate(c * c)
        try backend.gemm(transA: false, transB: true, m: c, n: c, k: p, alpha: 1, a: dy.buffer, aOffset: 0, lda: p,
                         b: x.buffer, bOffset: 0, ldb: p, beta: 0, c: dwBuffer, cOffset: 0, ldc: c)
        let dw = try backend.download(dwBuffer).map(Double.init)
        let logdetScale = Double(logdetGrad) * Double(x.images * x.spatial)
        if !lu {
            // log|det W| term: W⁻ᵀ, from the Float64 inverse kept since refresh().
            var g = dw
            for i in 0..<c { for j in 0..<c { g[i * c + j] += logdetScale * inverse64[j * c + i] } }
            try backend.upload(g.map(Float.init), to: try parameters[0].gradient(), offset: 0)
            return dx
        }
        let (perm, l, ut) = try factors64 ?? { let f = try factors(); return (f.p, f.l, f.u) }()
        let pm = perm.values
        var ptdw = Matrix64(zeros: c)   // Pᵀ · ∂W
        for i in 0..<c { for k in 0..<c where pm[k * c + i] != 0 { for j in 0..<c { ptdw[i, j] += pm[k * c + i] * dw[k * c + j] } } }
        var gl = [Float](repeating: 0, count: c * c), gu = gl, gs = [Float](repeating: 0, count: c)
        for i in 0..<c {
            for j in 0..<c {
                if j < i {   // (Pᵀ∂W · Ũᵀ)[i, j]
                    var s = 0.0
                    for k in 0..<c { s += ptdw[i, k] * ut[j, k] }
                    gl[i * c + j] = Float(s)
                } else {     // (Lᵀ · Pᵀ∂W)[i, j]
                    var s = 0.0
                    for k in 0..<c { s += l[k, i] * ptdw[k, j] }
                    if j > i { gu[i * c + j] = Float(s) } else { gs[i] = Float(s * ut[i, i] + logdetScale) }
                }
            }
        }
        try backend.upload(gl, to: try parameters[1].gradient(), offset: 0)
        try backend.upload(gu, to: try parameters[2].gradient(), offset: 0)
        try backend.upload(gs, to: try parameters[3].gradient(), offset: 0)
        return dx
    }
}

extension ChannelPermutation {
    /// Backward: the gradient goes through the inverse permutation.
    public func backward(dy: Tensor<B>) throws -> Tensor<B> { try apply(reverseMatrix, dy) }
}
