/// The coupling network NN of glow-spec.md: `Conv3×3(C/2 → hidden) → ActNorm → ReLU →
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

    /// `NN(x)` for the first `conv1.inChannels` channels of the CNHW `x`; returns `[out, P]`.
    public func forward(_ x: B.Buffer, images: Int, height: Int, width: Int, initialize: Bool) throws -> B.Buffer {
        let p = images * height * width
        let columns = try backend.allocate(max(conv1.inChannels, hidden) * 9 * p)
        let a1 = try backend.allocate(hidden * p), a2 = try backend.allocate(hidden * p)
        try conv1.forward(x, xOffset: 0, images: images, height: height, width: width, columns: columns, into: a1)
        if initialize { try actnorm1.initialize(from: a1, cols: p) }
        try actnorm1.forward(a1, cols: p, into: a1)
        try backend.unary(.relu, a1, xOffset: 0, y: a1, yOffset: 0, count: hidden * p)
        try conv2.forward(a1, cols: p, into: a2)
        if initialize { try actnorm2.initialize(from: a2, cols: p) }
        try actnorm2.forward(a2, cols: p, into: a2)
        try backend.unary(.relu, a2, xOffset: 0, y: a2, yOffset: 0, count: hidden * p)
        let h = try backend.allocate(convZeros.conv.outChannels * p)
        try convZeros.forward(a2, xOffset: 0, images: images, height: height, width: width, columns: columns, into: h)
        return h
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
        let h = try network.forward(x.buffer, images: x.images, height: x.height, width: x.width,
                                    initialize: ctx?.initialize ?? false)
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
