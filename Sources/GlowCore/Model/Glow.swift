import Foundation

/// What `Glow.encode` returns: every factored-out latent and the per-image terms of the
/// objective (docs/glow-spec.md, "Data and objective").
public struct Encoding<B: Backend> {
    /// `z.0 … z.{L-1}`: the split latents of levels 0…L-2, then the top latent.
    public let latents: [Tensor<B>]
    /// Per image `log|det ∂z/∂x|`, nats.
    public let logdet: [Double]
    /// Per image `log p(z)`, nats.
    public let logp: [Double]
    /// Per image `log p(z) + logdet - D·log(2^n_bits)`.
    public let objective: [Double]
    /// Per image `-objective / (D · ln 2)`.
    public let bpd: [Double]
    /// Per image cross-entropy of the classifier in nats (class-conditional models).
    public let crossEntropy: [Double]?
}

/// The Glow model: L levels of K steps, the split priors and the top prior, written once
/// against `Backend` so it runs unchanged on every device.
public final class Glow<B: Backend> {
    /// The architecture.
    public let config: GlowConfig
    /// The device.
    public let backend: B
    /// The levels, input side first.
    public let levels: [FlowLevel<B>]
    /// The prior of the top latent.
    public let top: TopPrior<B>
    /// The trainable tensors in one device buffer (and their gradients in another).
    public let arena: ParameterArena<B>

    /// A freshly initialised model (orthogonal 1×1 convolutions, N(0, 0.05²) coupling
    /// convolutions, zero Conv2dZeros, ActNorms awaiting data-dependent initialisation).
    public init(config: GlowConfig, backend: B, seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config; self.backend = backend
        levels = try (0..<config.L).map { try FlowLevel(backend, config: config, level: $0, seed: seed) }
        top = try TopPrior(backend, channels: config.topChannels, learnTop: config.learnTop, classes: config.classes)
        arena = try ParameterArena(backend, parameters: (levels.flatMap(\.parameters) + top.parameters).filter(\.trainable))
    }

    /// Every float tensor, in checkpoint order.
    public var parameters: [Parameter<B>] { levels.flatMap(\.parameters) + top.parameters }

    /// Every ActNorm (flow steps and coupling networks).
    var actnorms: [ActNorm<B>] {
        levels.flatMap { $0.steps.flatMap { [$0.actnorm, $0.coupling.network.actnorm1, $0.coupling.network.actnorm2] } }
    }

    /// Whether every ActNorm was initialised from data (or loaded).
    public var isInitialized: Bool { actnorms.allSatisfy(\.initialized) }

    /// The latents' shapes `(channels, height, width)`, `z.0 … z.{L-1}`.
    public var latentShapes: [(Int, Int, Int)] {
        (0..<config.L).map { i in
            let c = config.levelChannels(i)
            return (i < config.L - 1 ? c / 2 : c, config.levelHeight(i), config.levelWidth(i))
        }
    }

    /// Checks that every 1×1 convolution is invertible (an error naming the layer if not).
    /// Nothing derived from the weights is cached between passes (docs/glow-spec.md), so no
    /// caller needs this for correctness: loading a checkpoint calls it to reject a bad file.
    public func refresh() throws {
        for l in levels { for s in l.steps { try s.invconv?.refresh() } }
    }

    /// Checks that `x` is a batch of this model's images.
    func checkInput(_ x: Tensor<B>) throws {
        guard x.channels == config.channels, x.height == config.height, x.width == config.width else {
            throw GlowError("input is \(x.channels)×\(x.height)×\(x.width) but the model takes "
                + "\(config.channels)×\(config.height)×\(config.width)")
        }
    }

    /// Encodes x (model space, `[N, C, H, W]`) to its latents and objective. With
    /// `initialize`, every ActNorm first takes its data-dependent initialisation from this
    /// batch. Class-conditional models need `labels` (one per image).
    public func encode(_ x: Tensor<B>, labels: [Int]? = nil, initialize: Bool = false) throws -> Encoding<B> {
        try checkInput(x)
        if !initialize && !isInitialized {
            throw GlowError("the model's ActNorms are not initialised: encode an initial batch with initialize: true first")
        }
        let ctx = try FlowContext(backend, images: x.images, initialize: initialize)
        var h = x
        var latents: [Tensor<B>] = []
        for level in levels {
            let (next, z) = try level.forward(h, ctx)
            if let z { latents.append(z) }
            h = next
        }
        latents.append(h)
        try top.logDensity(h, labels: labels, ctx)
        let logdet = try backend.download(ctx.logdet).map(Double.init)
        let logp = try backend.download(ctx.logp).map(Double.init)
        let d = Double(config.dimension)
        let quant = d * Foundation.log(Double(1 << config.nBits))
        let objective = zip(logp, logdet).map { $0 + $1 - quant }
        return Encoding(latents: latents, logdet: logdet, logp: logp, objective: objective,
                        bpd: objective.map { -$0 / (d * Foundation.log(2.0)) }, crossEntropy: ctx.crossEntropy)
    }

    /// Decodes `z.0 … z.{L-1}` back to x.
    public func decode(_ latents: [Tensor<B>]) throws -> Tensor<B> {
        guard latents.count == config.L else {
            throw GlowError("decode needs \(config.L) latents (z.0 … z.\(config.L - 1)), got \(latents.count)")
        }
        for (i, (z, shape)) in zip(latents, latentShapes).enumerated() {
            guard z.channels == shape.0, z.height == shape.1, z.width == shape.2, z.images == latents[0].images else {
                throw GlowError("latent z.\(i) is [\(z.images), \(z.channels), \(z.height), \(z.width)] but the model needs "
                    + "[\(latents[0].images), \(shape.0), \(shape.1), \(shape.2)]")
            }
        }
        return try run(top: latents[config.L - 1], splits: Array(latents.dropLast()), temperature: 1, seed: 0)
    }

    /// Draws `count` images at `temperature` (docs/glow-spec.md "Sampling"), from Philox with
    /// `seed`: the same seed gives the same samples on every backend. Class-conditional
    /// models need `labels` (one class per image).
    public func sample(count: Int, temperature: Float, seed: UInt64, labels: [Int]? = nil) throws -> Tensor<B> {
        guard count >= 1 else { throw GlowError("sample count \(count): must be at least 1") }
        guard temperature.isFinite, temperature >= 0 else { throw GlowError("temperature \(temperature): must be finite and ≥ 0") }
        let i = config.L - 1
        let z = try top.sample(images: count, height: config.levelHeight(i), width: config.levelWidth(i),
                               temperature: temperature, seed: seed, stream: 1, labels: labels)
        return try run(top: z, splits: nil, temperature: temperature, seed: seed)
    }

    private func run(top z: Tensor<B>, splits: [Tensor<B>]?, temperature: Float, seed: UInt64) throws -> Tensor<B> {
        var h = z
        for i in stride(from: config.L - 1, through: 0, by: -1) {
            let z2: Tensor<B>? = i < config.L - 1 ? splits?[i] : nil
            h = try levels[i].reverse(h, z2, temperature: temperature, seed: seed, stream: UInt64(2 + i))
        }
        return h
    }
}
