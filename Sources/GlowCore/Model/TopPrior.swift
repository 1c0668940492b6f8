import Foundation

/// The prior of the top latent (C channels): `h = 0` of `[2C]` channels; with `learn_top`
/// `h = Conv2dZeros(2C → 2C)(h)`; with classes, `h += LinearZeros(classes → 2C)(onehot(y))`
/// broadcast over space; `mean = h[:, :C]`, `logs = h[:, C:]`. Class-conditional models
/// also carry the classifier `logits = LinearZeros(C → classes)(mean over space of z)`.
public final class TopPrior<B: Backend> {
    /// The learned prior (`learn_top`).
    public let convZeros: Conv2dZeros<B>?
    /// The class embedding (classes > 0).
    public let yEmbed: LinearZeros<B>?
    /// The classifier head (classes > 0).
    public let classifier: LinearZeros<B>?
    let backend: B
    let channels: Int
    let classes: Int
    private var broadcastCache: (images: Int, spatial: Int, buffer: B.Buffer)?

    /// The top prior over `channels` channels.
    public init(_ backend: B, channels c: Int, learnTop: Bool, classes: Int = 0) throws {
        self.backend = backend; channels = c; self.classes = classes
        convZeros = learnTop ? try Conv2dZeros(backend, in: 2 * c, out: 2 * c, prefix: "top.conv_zeros") : nil
        yEmbed = classes > 0 ? try LinearZeros(backend, in: classes, out: 2 * c, prefix: "top.y_embed") : nil
        classifier = classes > 0 ? try LinearZeros(backend, in: c, out: classes, prefix: "top.classifier") : nil
    }

    /// The prior's tensors.
    public var parameters: [Parameter<B>] {
        (convZeros?.parameters ?? []) + (yEmbed?.parameters ?? []) + (classifier?.parameters ?? [])
    }

    /// Checks labels for a batch: required (one per image, in 0..<classes) for a
    /// class-conditional model, ignored otherwise.
    func checkedLabels(_ labels: [Int]?, images: Int) throws -> [Int]? {
        guard classes > 0 else { return nil }
        guard let labels else { throw GlowError("the model is class-conditional (\(classes) classes): labels are required") }
        guard labels.count == images else { throw GlowError("\(labels.count) labels for \(images) images") }
        if let bad = labels.first(where: { !(0..<classes).contains($0) }) {
            throw GlowError("label \(bad) is outside 0…\(classes - 1)")
        }
        return labels
    }

    /// `E[n, n·HW + s] = 1`: broadcasting a per-image column over space is `v · E`, and
    /// summing over space is `x · Eᵀ`, both GEMMs.
    func broadcastMatrix(images: Int, spatial: Int) throws -> B.Buffer {
        if let c = broadcastCache, c.images == images, c.spatial == spatial { return c.buffer }
        var e = [Float](repeating: 0, count: images * images * spatial)
        for n in 0..<images { for s in 0..<spatial { e[n * images * spatial + n * spatial + s] = 1 } }
        let b = try backend.makeBuffer(e)
        broadcastCache = (images, spatial, b)
        return b
    }

    func oneHot(_ labels: [Int]) throws -> B.Buffer {
        var v = [Float](repeating: 0, count: classes * labels.count)
        for (n, y) in labels.enumerated() { v[y * labels.count + n] = 1 }
        return try backend.makeBuffer(v)
    }

    /// `h` (`[2C, P]`) for a batch of `images` of `height × width`; with labels, also the
    /// one-hot input and output of the embedding.
    func prior(images: Int, height: Int, width: Int, labels: [Int]?) throws -> (h: B.Buffer, onehot: B.Buffer?, embedding: B.Buffer?) {
        let p = images * height * width
        let h = try backend.zeros(2 * channels * p)
        if let convZeros {
            // The convolution of the all-zero input is exactly zero; only bias and logs act.
            try backend.channelAffine(h, xOffset: 0, rows: 2 * channels, cols: p, bias: convZeros.bias.value,
                                      logs: convZeros.logs.value, factor: Conv2dZeros<B>.logScaleFactor, reverse: false,
                                      y: h, yOffset: 0)
        }
        guard let yEmbed, let labels else { return (h, nil, nil) }
        let onehot = try oneHot(labels)
        let emb = try yEmbed.forward(onehot, columns: images)
        try backend.gemm(transA: false, transB: false, m: 2 * channels, n: p, k: images, alpha: 1, a: emb, aOffset: 0,
                         lda: images, b: try broadcastMatrix(images: images, spatial: height * width), bOffset: 0, ldb: p,
                         beta: 1, c: h, cOffset: 0, ldc: p)
        return (h, onehot, emb)
    }

    /// The classifier's input (`[C, N]`, z averaged over space) and logits (`[classes, N]`).
    func logits(_ z: Tensor<B>) throws -> (mean: B.Buffer, logits: B.Buffer)? {
        guard let classifier else { return nil }
        let mean = try backend.allocate(channels * z.images)
        try backend.gemm(transA: false, transB: true, m: channels, n: z.images, k: z.cols, alpha: 1 / Float(z.spatial),
                         a: z.buffer, aOffset: 0, lda: z.cols, b: try broadcastMatrix(images: z.images, spatial: z.spatial),
                         bOffset: 0, ldb: z.cols, beta: 0, c: mean, cOffset: 0, ldc: z.images)
        return (mean, try classifier.forward(mean, columns: z.images))
    }

    /// Per image softmax cross-entropy (nats) and its gradient `softmax - onehot` (as
    /// `[classes, N]`), computed on the host from the downloaded logits.
    func crossEntropy(_ logits: B.Buffer, labels: [Int]) throws -> (ce: [Double], gradient: [Float]) {
        let n = labels.count
        let l = try backend.download(logits, offset: 0, count: classes * n)
        var ce = [Double](repeating: 0, count: n), grad = [Float](repeating: 0, count: classes * n)
        for i in 0..<n {
            let col = (0..<classes).map { Double(l[$0 * n + i]) }
            let mx = col.max() ?? 0
            let z = col.reduce(0) { $0 + Foundation.exp($1 - mx) }
            ce[i] = -(col[labels[i]] - mx - Foundation.log(z))
            for c in 0..<classes {
                grad[c * n + i] = Float(Foundation.exp(col[c] - mx) / z - (c == labels[i] ? 1 : 0))
            }
        }
        return (ce, grad)
    }

    /// Adds `log p(z | y)` per image to `ctx.logp`; for class-conditional models also
    /// records the classifier's cross-entropy in `ctx.crossEntropy`.
    public func logDensity(_ z: Tensor<B>, labels: [Int]? = nil, _ ctx: FlowContext<B>) throws {
        let labels = try checkedLabels(labels, images: z.images)
        let p = z.cols
        let h = try prior(images: z.images, height: z.height, width: z.width, labels: labels).h
        let density = try backend.allocate(channels * p)
        try backend.gaussianLogDensity(z.buffer, zOffset: 0, h: h, meanOffset: 0, logsOffset: channels * p, rowStride: 1,
                                       rows: channels, cols: p, out: density)
        try backend.sampleSums(density, xOffset: 0, rows: channels, images: z.images, spatial: z.spatial, out: ctx.logp,
                               accumulate: true)
        if let labels, let (_, logits) = try logits(z) {
            ctx.crossEntropy = try crossEntropy(logits, labels: labels).ce
        }
    }

    /// Draws z at `temperature` (of class `labels[n]` for image n when conditional).
    public func sample(images: Int, height: Int, width: Int, temperature: Float, seed: UInt64, stream: UInt64,
                       labels: [Int]? = nil) throws -> Tensor<B> {
        let labels = try checkedLabels(labels, images: images)
        let z = try Tensor(backend, images: images, channels: channels, height: height, width: width)
        let p = z.cols
        let h = try prior(images: images, height: height, width: width, labels: labels).h
        let eps = try backend.allocate(channels * p)
        try backend.random(eps, offset: 0, count: channels * p, distribution: .normal, seed: seed, stream: stream)
        try backend.gaussianSample(eps, h: h, meanOffset: 0, logsOffset: channels * p, rowStride: 1, rows: channels, cols: p,
                                   temperature: temperature, z: z.buffer, zOffset: 0)
        return z
    }

    /// ∂loss/∂z for `loss = scale · log p(z | y) + classScale · CE(classifier(z), y)`, and
    /// the prior's parameter gradients (the convolution of the all-zero input has a zero
    /// weight gradient; bias and logs get theirs).
    public func backward(_ z: Tensor<B>, labels: [Int]? = nil, scale: Float, classScale: Float = 0) throws -> Tensor<B> {
        let labels = try checkedLabels(labels, images: z.images)
        let p = z.cols, n = z.images
        let (h, onehot, emb) = try prior(images: n, height: z.height, width: z.width, labels: labels)
        let dz = try Tensor(backend, images: n, channels: channels, height: z.height, width: z.width)
        let dh = try backend.allocate(2 * channels * p)
        try backend.gaussianBackward(z.buffer, zOffset: 0, h: h, meanOffset: 0, logsOffset: channels * p, rowStride: 1,
                                     rows: channels, cols: p, scale: scale, dz: dz.buffer, dzOffset: 0, dh: dh)
        if let convZeros {
            let o = 2 * channels
            let w = try convZeros.conv.weight.gradient()
            try backend.fill(w, offset: 0, count: convZeros.conv.weight.count, value: 0)
            let dc = try backend.allocate(o * p)
            try backend.channelAffine(dh, xOffset: 0, rows: o, cols: p, bias: convZeros.zero, logs: convZeros.logs.value,
                                      factor: Conv2dZeros<B>.logScaleFactor, reverse: false, y: dc, yOffset: 0)
            try backend.rowSums(dc, xOffset: 0, rows: o, cols: p, squares: false, out: try convZeros.bias.gradient())
            // ∂logs needs the convolution's own output, without the class embedding.
            let hConv = labels == nil ? h : try prior(images: n, height: z.height, width: z.width, labels: nil).h
            try convZeros.outputScaleGradient(hConv, dy: dh, rows: o, cols: p)
        }
        guard let yEmbed, let classifier, let labels, let onehot, let emb else { return dz }
        let e = try broadcastMatrix(images: n, spatial: z.spatial)
        let demb = try backend.allocate(2 * channels * n)
        try backend.gemm(transA: false, transB: true, m: 2 * channels, n: n, k: p, alpha: 1, a: dh, aOffset: 0, lda: p,
                         b: e, bOffset: 0, ldb: p, beta: 0, c: demb, cOffset: 0, ldc: n)
        _ = try yEmbed.backward(input: onehot, output: emb, dy: demb, columns: n)
        // The classifier on the spatial mean of z.
        guard let (mean, logits) = try logits(z) else { return dz }
        let grad = try crossEntropy(logits, labels: labels).gradient.map { $0 * classScale }
        let dmean = try classifier.backward(input: mean, output: logits, dy: try backend.makeBuffer(grad), columns: n)
        try backend.gemm(transA: false, transB: false, m: channels, n: p, k: n, alpha: 1 / Float(z.spatial), a: dmean,
                         aOffset: 0, lda: n, b: e, bOffset: 0, ldb: p, beta: 1, c: dz.buffer, cOffset: 0, ldc: p)
        return dz
    }
}
