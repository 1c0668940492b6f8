import Foundation

/// The invertible 1×1 convolution `y[:, o] = Σ_i W[o, i] · x[:, i]`, logdet `+= H·W·log|det W|`.
///
/// **LU** (the default), `W = P · L · (U + diag(sign_s ⊙ exp(log_s)))`: everything derived
/// from the factors is computed on the device where it is needed, and nothing is cached
/// across weight updates: `forward` builds W (`Backend.luWeight`) and adds `H·W·Σ log_s`
/// to every image's log-determinant (`addScaledSum`), `reverse` builds W⁻¹ by triangular
/// solves (`luInverse`), and `backward` takes `∂W = dy·xᵀ` to the factors on the device
/// (`luBackward`). A training step therefore waits for none of it.
///
/// **Plain** (W trained directly): log|det W| and W⁻¹ come from a Float64 LU on the host,
/// recomputed from a download of W in every forward and reverse pass (one host wait per
/// layer and pass; counted apart in docs/benchmarks.md). A batch is one GEMM either way.
public final class InvertibleConv1x1<B: Backend> {
    /// Plain: `weight` `[C, C]`. LU: `p`, `lower`, `upper` `[C, C]`, `log_s`, `sign_s` `[C]`.
    public let parameters: [Parameter<B>]
    let backend: B
    let channels: Int
    let lu: Bool
    /// LU: W as built by the last `forward` (the backward pass of the same step uses it).
    let weight: B.Buffer
    /// W⁻¹ as built by the last `reverse` (LU) or refresh from the host (plain).
    let inverse: B.Buffer
    /// Plain: the identity, for adding `s·W⁻ᵀ` to ∂W in one GEMM.
    private let identity: B.Buffer?
    /// Plain: log|det W| as of the last host refresh.
    private var logAbsDet: Double = 0

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
            identity = nil
        } else {
            parameters = [try Parameter(backend, name: prefix + ".weight", shape: [c, c], values: w.floats)]
            identity = try backend.makeBuffer(Matrix64.identity(c).floats)
        }
        weight = try backend.allocate(c * c)
        inverse = try backend.allocate(c * c)
    }

    /// The LU factors in Float64 from the current parameters: P, unit lower L, and
    /// `Ũ = U + diag(sign_s ⊙ exp(log_s))` (LU variant only; downloads, for checks).
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

    /// The matrix W in Float64 from the current parameters (downloads; for checks and tools).
    public func matrix() throws -> Matrix64 {
        if !lu { return try Matrix64(n: channels, values: try backend.download(parameters[0].value).map(Double.init)) }
        let (p, l, u, _) = try factors()
        return p * l * u
    }

    /// Checks that W is invertible (an error naming the layer if not); for the plain
    /// variant also recomputes log|det W| and W⁻¹ on the host and uploads W⁻¹.
    public func refresh() throws {
        if lu {   // W = P·L·Ũ is invertible exactly when every exp(log_s) is finite and non-zero
            let logS = try backend.download(parameters[3].value)
            guard logS.allSatisfy({ $0.isFinite && Foundation.exp(Double($0)) > 0 }) else {
                throw GlowError("\(parameters[0].name): the 1×1 convolution's W is singular (log_s \(logS.filter { !$0.isFinite }))")
            }
            return
        }
        guard let (inv, logdet) = try matrix().inverseAndLogAbsDet() else {
            throw GlowError("\(parameters[0].name): the 1×1 convolution's W is singular")
        }
        logAbsDet = logdet
        try backend.upload(inv.floats, to: inverse, offset: 0)
    }

    /// The factor tensors in `luWeight`'s order.
    private var factorBuffers: (B.Buffer, B.Buffer, B.Buffer, B.Buffer, B.Buffer) {
        (parameters[0].value, parameters[1].value, parameters[2].value, parameters[3].value, parameters[4].value)
    }

    /// `y = W x`, logdet `+= H·W·log|det W|`.
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> Tensor<B> {
        if lu {
            // A backward pass recomputing this pass's activations (a context that tracks no
            // log-determinant) reuses the W its forward pass built: the weights have not changed.
            if ctx.tracksLogdet {
                let (p, l, u, s, sg) = factorBuffers
                try backend.luWeight(p: p, lower: l, upper: u, logS: s, signS: sg, channels: channels, weight: weight)
                try ctx.addLogdet(s, count: channels, scale: Float(x.spatial), images: x.images)
            }
            return try apply(weight, x)
        }
        try refresh()
        try ctx.addLogdet(Float(Double(x.spatial) * logAbsDet), images: x.images)
        return try apply(parameters[0].value, x)
    }

    /// `x = W⁻¹ y`.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> {
        if lu {
            let (p, l, u, s, sg) = factorBuffers
            try backend.luInverse(p: p, lower: l, upper: u, logS: s, signS: sg, channels: channels, inverse: inverse)
        } else {
            try refresh()
        }
        return try apply(inverse, y)
    }

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
    /// Backward from the input `x` and `dy` (after this step's `forward`): `dx = Wᵀ · dy`
    /// and `∂W = dy · xᵀ` on the device. LU: `luBackward` takes ∂W to the factors, `∂L =
    /// strict_lower(Pᵀ ∂W Ũᵀ)`, `∂U = strict_upper(Lᵀ Pᵀ ∂W)`, `∂log_s = diag(Lᵀ Pᵀ ∂W) ⊙
    /// sign_s ⊙ exp(log_s) + N·H·W·∂loss/∂logdet`. Plain: `∂W += N·H·W·∂loss/∂logdet · W⁻ᵀ`.
    public func backward(input x: Tensor<B>, dy: Tensor<B>, logdetGrad: Float) throws -> Tensor<B> {
        let c = channels, p = x.cols
        let w = lu ? weight : parameters[0].value
        let dx = try Tensor(backend, images: x.images, channels: c, height: x.height, width: x.width)
        try backend.gemm(transA: true, transB: false, m: c, n: p, k: c, alpha: 1, a: w, aOffset: 0, lda: c,
                         b: dy.buffer, bOffset: 0, ldb: p, beta: 0, c: dx.buffer, cOffset: 0, ldc: p)
        let logdetScale = logdetGrad * Float(x.images * x.spatial)
        if !lu {
            let g = try parameters[0].gradient()
            try backend.gemm(transA: false, transB: true, m: c, n: c, k: p, alpha: 1, a: dy.buffer, aOffset: 0, lda: p,
                             b: x.buffer, bOffset: 0, ldb: p, beta: 0, c: g, cOffset: 0, ldc: c)
            // W⁻¹ as uploaded by this step's forward pass.
            try backend.gemm(transA: true, transB: false, m: c, n: c, k: c, alpha: logdetScale, a: inverse, aOffset: 0, lda: c,
                             b: identity!, bOffset: 0, ldb: c, beta: 1, c: g, cOffset: 0, ldc: c)
            return dx
        }
        let dw = try backend.allocate(c * c)
        try backend.gemm(transA: false, transB: true, m: c, n: c, k: p, alpha: 1, a: dy.buffer, aOffset: 0, lda: p,
                         b: x.buffer, bOffset: 0, ldb: p, beta: 0, c: dw, cOffset: 0, ldc: c)
        let (pm, l, u, s, sg) = factorBuffers
        try backend.luBackward(dw: dw, p: pm, lower: l, upper: u, logS: s, signS: sg, channels: c, logdetScale: logdetScale,
                               gLower: try parameters[1].gradient(), gUpper: try parameters[2].gradient(),
                               gLogS: try parameters[3].gradient())
        return dx
    }
}

extension ChannelPermutation {
    /// Backward: the gradient goes through the inverse permutation.
    public func backward(dy: Tensor<B>) throws -> Tensor<B> { try apply(reverseMatrix, dy) }
}
