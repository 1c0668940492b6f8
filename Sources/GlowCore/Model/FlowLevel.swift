/// One level of the multi-scale architecture: squeeze, K steps of flow, and (except on
/// the last level) a split.
public final class FlowLevel<B: Backend> {
    /// The K steps.
    public let steps: [FlowStep<B>]
    /// The split (nil on the last level).
    public let split: Split<B>?
    let backend: B

    /// Level `i` of `config`.
    public init(_ backend: B, config: GlowConfig, level i: Int, seed: UInt64) throws {
        self.backend = backend
        steps = try (0..<config.K).map { try FlowStep(backend, config: config, level: i, step: $0, seed: seed) }
        split = i < config.L - 1 ? try Split(backend, channels: config.levelChannels(i), level: i) : nil
    }

    /// The level's float tensors in checkpoint order.
    public var parameters: [Parameter<B>] { steps.flatMap(\.parameters) + (split?.parameters ?? []) }

    /// Squeeze → steps → split. Returns what goes on and the factored-out latent (nil on
    /// the last level, where what goes on is the top latent).
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> (Tensor<B>, Tensor<B>?) {
        var h = try squeeze(x)
        for step in steps { h = try step.forward(h, ctx) }
        guard let split else { return (h, nil) }
        let (z1, z2) = try split.forward(h, ctx)
        return (z1, z2)
    }

    /// The inverse: merge (or sample) the split's half, steps in reverse, unsqueeze.
    public func reverse(_ z1: Tensor<B>, _ z2: Tensor<B>?, temperature: Float, seed: UInt64, stream: UInt64) throws -> Tensor<B> {
        var h = try split?.reverse(z1, z2, temperature: temperature, seed: seed, stream: stream) ?? z1
        for step in steps.reversed() { h = try step.reverse(h) }
        return try unsqueeze(h)
    }

    func squeeze(_ x: Tensor<B>) throws -> Tensor<B> {
        let y = try Tensor(backend, images: x.images, channels: x.channels * 4, height: x.height / 2, width: x.width / 2)
        try backend.squeeze(x.buffer, y: y.buffer, channels: x.channels, images: x.images, height: x.height, width: x.width,
                            inverse: false)
        return y
    }

    func unsqueeze(_ y: Tensor<B>) throws -> Tensor<B> {
        let x = try Tensor(backend, images: y.images, channels: y.channels / 4, height: y.height * 2, width: y.width * 2)
        try backend.squeeze(y.buffer, y: x.buffer, channels: x.channels, images: x.images, height: x.height, width: x.width,
                            inverse: true)
        return x
    }
}
