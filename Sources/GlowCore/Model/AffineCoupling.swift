/// The coupling network NN of docs/glow-spec.md: `Conv3×3(C/2 → hidden) → ActNorm → ReLU →
/// Conv1×1(hidden → hidden) → ActNorm → ReLU → Conv2dZeros(hidden → C or C/2)`.
public final class CouplingNetwork<B: Backend> {
    /// First convolution, weights N(0, 0.05²).
    public let conv1: Conv3x3<B>
    /// Its ActNorm.
    public let actnorm1: ActNorm<B>
    /// Second convolution, weights N(0, 0.05²).
    public let conv2: Conv1x1<B>
    /// Its ActNorm.
    public let actnorm2: ActNorm<B>
    /// The zero-initialised output layer.
    public let convZeros: Conv2dZeros<B>
    let backend: B
    let hidden: Int

    /// A network from `inChannels` to `outChannels`, named `prefix.conv1.weight`, ….
    public init(_ backend: B, in c: Int, hidden: Int, out: Int, prefix: String, seed: UInt64, stream: UInt64) throws {
        self.backend = backend; self.hidden = hidden
        let w1 = Philox.array(count: hidden * c * 9, distribution: .normal, seed: seed, stream: stream).map { $0 * 0.05 }
        let w2 = Philox.array(count: hidden * hidden, distribution: .normal, seed: seed, stream: stream + 1).map { $0 * 0.05 }
        conv1 = try Conv3x3(backend, in: c, out: hidden, name: prefix + ".conv1.weight", values: w1)
        actnorm1 = try ActNorm(backend, channels: hidden, prefix: prefix + ".actnorm1")
        conv2 = try Conv1x1(backend, in: hidden, out: hidden, name: prefix + ".conv2.weight", values: w2)
        actnorm2 = try ActNorm(backend, channels: hidden, prefix: prefix + ".actnorm2")
        convZeros = try Conv2dZeros(backend, in: hidden, out: out, prefix: prefix + ".conv_zeros")
    }

    /// The network's tensors in checkpoint order.
    public var parameters: [Parameter<B>] {
        [conv1.weight] + actnorm1.parameters + [conv2.weight] + actnorm2.parameters + convZeros.parameters
    }

    /// Shared `columns` scratch of the two 3×3 convolutions (nil when the backend needs none).
    func scratch(images: Int, height: Int, width: Int) throws -> B.Buffer? {
        try backend.scratch(max(conv1.scratchCount(images: images, height: height, width: width),
                                convZeros.conv.scratchCount(images: images, height: height, width: width)))
    }

    /// `NN(x)` for the first `conv1.inChannels` channels of the CNHW `x`; returns the
    /// output h (`[out, P]`) with the activations the backward pass needs. With
    /// `initialize`, the two ActNorms first take their data-dependent initialisation.
    func forward(_ x: B.Buffer, images: Int, height: Int, width: Int, initialize: Bool = false) throws -> CouplingNetworkCache<B> {
        // The coupling network's convolutions are the GEMMs that may use TF32 (`--precision`).
        try backend.allowingReducedPrecision {
            try forwardGEMMs(x, images: images, height: height, width: width, initialize: initialize)
        }
    }

    private func forwardGEMMs(_ x: B.Buffer, images: Int, height: Int, width: Int, initialize: Bool) throws -> CouplingNetworkCache<B> {
        let p = images * height * width
        let columns = try scratch(images: images, height: height, width: width)
        let r1 = try backend.allocate(hidden * p), r2 = try backend.allocate(hidden * p)
        try conv1.forward(x, xOffset: 0, images: images, height: height, width: width, columns: columns, into: r1)
        if initialize { try actnorm1.initialize(from: r1, cols: p) }
        try actnorm1.forward(r1, cols: p, relu: true, into: r1)
        try conv2.forward(r1, cols: p, into: r2)
        if initialize { try actnorm2.initialize(from: r2, cols: p) }
        try actnorm2.forward(r2, cols: p, relu: true, into: r2)
        let h = try backend.allocate(convZeros.conv.outChannels * p)
        try convZeros.forward(r2, xOffset: 0, images: images, height: height, width: width, columns: columns, into: h)
        return CouplingNetworkCache(r1: r1, r2: r2, h: h)
    }
}

/// Affine (or additive) coupling: `z1 = x[:, :C/2]` passes through, `h = NN(z1)`;
/// affine: `z2' = (z2 + h[:, 0::2]) ⊙ sigmoid(h[:, 1::2] + 2)`, logdet `+= Σ log s`;
/// additive: `z2' = z2 + h`. Reverse solves for z2 with the same `h`, since z1 is unchanged.
public final class AffineCoupling<B: Backend> {
    /// The network computing shift and scale from z1.
    public let network: CouplingNetwork<B>
    /// Affine or additive.
    public let kind: GlowConfig.Coupling
    let backend: B
    let channels: Int

    /// A coupling over `channels` (even) channels.
    public init(_ backend: B, channels c: Int, hidden: Int, kind: GlowConfig.Coupling, prefix: String,
                seed: UInt64, stream: UInt64) throws {
        self.backend = backend; channels = c; self.kind = kind
        network = try CouplingNetwork(backend, in: c / 2, hidden: hidden, out: kind == .affine ? c : c / 2,
                                      prefix: prefix, seed: seed, stream: stream)
    }

    /// The layer's tensors.
    public var parameters: [Parameter<B>] { network.parameters }

    /// Forward; adds `Σ log s` per image to `ctx.logdet` (affine).
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> Tensor<B> {
        try couple(x, reverse: false, ctx: ctx)
    }

    /// Reverse.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> {
        try couple(y, reverse: true, ctx: nil)
    }

    private func couple(_ x: Tensor<B>, reverse: Bool, ctx: FlowContext<B>?) throws -> Tensor<B> {
        let half = channels / 2, p = x.cols
        let cache = try network.forward(x.buffer, images: x.images, height: x.height, width: x.width,
                                        initialize: ctx?.initialize ?? false)
        if let ctx, ctx.keepActivations { ctx.kept[ObjectIdentifier(self)] = cache }
        let h = cache.h
        let y = try Tensor(backend, images: x.images, channels: channels, height: x.height, width: x.width)
        switch kind {
        case .affine:
            let logScale = try backend.allocate(half * p)
            try backend.affineCoupling(x.buffer, h: h, half: half, cols: p, reverse: reverse, y: y.buffer, logScale: logScale)
            if let ctx {
                try backend.sampleSums(logScale, xOffset: 0, rows: half, images: x.images, spatial: x.spatial,
                                       out: ctx.logdet, accumulate: true)
            }
        case .additive:
            try backend.copy2D(x.buffer, srcOffset: 0, srcStride: 0, y.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
            try backend.binary(reverse ? .subtract : .add, x.buffer, aOffset: half * p, h, bOffset: 0,
                               y: y.buffer, yOffset: half * p, count: half * p)
        }
        return y
    }
}

/// What the coupling network keeps from a forward pass for its backward pass: the two
/// ReLU outputs (their positivity is ReLU's mask, and where the gradient is non-zero they
/// equal the ActNorm outputs) and the output h.
struct CouplingNetworkCache<B: Backend> {
    let r1: B.Buffer, r2: B.Buffer, h: B.Buffer
}

extension CouplingNetwork {
    /// Backward of NN from `dh`: every parameter gradient, and `dx += ∂loss/∂x` for the
    /// network's input `x` (the first `conv1.inChannels` rows).
    func backward(input x: B.Buffer, cache: CouplingNetworkCache<B>, dh: B.Buffer, images: Int, height: Int, width: Int,
                  dx: B.Buffer) throws {
        try backend.allowingReducedPrecision {
            try backwardGEMMs(input: x, cache: cache, dh: dh, images: images, height: height, width: width, dx: dx)
        }
    }

    private func backwardGEMMs(input x: B.Buffer, cache: CouplingNetworkCache<B>, dh: B.Buffer, images: Int, height: Int,
                               width: Int, dx: B.Buffer) throws {
        let p = images * height * width, n = hidden * p
        let columns = try scratch(images: images, height: height, width: width)
        let g2 = try backend.allocate(n), g1 = try backend.allocate(n), t = try backend.allocate(n)
        // Conv2dZeros → ∂r2
        try backend.fill(g2, offset: 0, count: n, value: 0)
        try convZeros.backward(input: cache.r2, xOffset: 0, output: cache.h, dy: dh, images: images, height: height,
                               width: width, columns: columns, dx: g2)
        // ReLU, ActNorm2 → ∂a2 (in t)
        try actnorm2.backward(output: cache.r2, dy: g2, cols: p, logsGradConstant: 0, relu: true, dx: t)
        // Conv1x1 → ∂r1
        try conv2.backward(input: cache.r1, dy: t, cols: p, dx: g1)
        // ReLU, ActNorm1 → ∂a1 (in t)
        try actnorm1.backward(output: cache.r1, dy: g1, cols: p, logsGradConstant: 0, relu: true, dx: t)
        // Conv3×3 → dx +=
        try conv1.backward(input: x, xOffset: 0, dy: t, images: images, height: height, width: width, columns: columns, dx: dx)
    }
}

extension AffineCoupling {
    /// Backward from either the layer's input `x` (memory mode `store`) or its output `y`
    /// (mode `reversible`: x is recomputed with the same h, since the first half passes
    /// through unchanged). Returns the input and ∂loss/∂input; `logdetGrad` is ∂loss/∂logdet.
    /// `kept` is what the forward pass stored in its context (memory mode `store`);
    /// without it the network's activations are recomputed.
    public func backward(input: Tensor<B>?, output: Tensor<B>?, dy: Tensor<B>, logdetGrad: Float,
                         kept: FlowContext<B>? = nil) throws -> (Tensor<B>, Tensor<B>) {
        guard let known = input ?? output else { throw GlowError("coupling backward needs its input or output") }
        let half = channels / 2, p = known.cols
        let cache = try kept?.kept[ObjectIdentifier(self)] as? CouplingNetworkCache<B>
            ?? network.forward(known.buffer, images: known.images, height: known.height, width: known.width)
        let x: Tensor<B>
        if let input { x = input } else {
            x = try Tensor(backend, images: known.images, channels: channels, height: known.height, width: known.width)
            switch kind {
            case .affine:
                let scratch = try backend.allocate(half * p)
                try backend.affineCoupling(known.buffer, h: cache.h, half: half, cols: p, reverse: true, y: x.buffer, logScale: scratch)
            case .additive:
                try backend.copy2D(known.buffer, srcOffset: 0, srcStride: 0, x.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
                try backend.binary(.subtract, known.buffer, aOffset: half * p, cache.h, bOffset: 0, y: x.buffer, yOffset: half * p, count: half * p)
            }
        }
        let dx = try Tensor(backend, images: x.images, channels: channels, height: x.height, width: x.width)
        // The first half: dy1 plus what flows back through NN.
        try backend.copy2D(dy.buffer, srcOffset: 0, srcStride: 0, dx.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
        let dh: B.Buffer
        switch kind {
        case .affine:
            dh = try backend.allocate(channels * p)
            try backend.affineCouplingBackward(x.buffer, h: cache.h, dy: dy.buffer, half: half, cols: p, logdetGrad: logdetGrad,
                                               dx: dx.buffer, dh: dh)
        case .additive:
            dh = try backend.allocate(half * p)
            try backend.copy2D(dy.buffer, srcOffset: half * p, srcStride: 0, dh, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
            try backend.copy2D(dy.buffer, srcOffset: half * p, srcStride: 0, dx.buffer, dstOffset: half * p, dstStride: 0, rows: 1, cols: half * p)
        }
        try network.backward(input: x.buffer, cache: cache, dh: dh, images: x.images, height: x.height, width: x.width, dx: dx.buffer)
        return (x, dx)
    }
}
