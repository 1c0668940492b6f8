/// One step of flow: ActNorm → channel mixing (1×1 convolution or fixed permutation) →
/// coupling. Reverse runs the three inverses in the opposite order.
public final class FlowStep<B: Backend> {
    /// The ActNorm.
    public let actnorm: ActNorm<B>
    /// The invertible 1×1 convolution (permutation `invconv`).
    public let invconv: InvertibleConv1x1<B>?
    /// The fixed permutation (`reverse`, `shuffle`).
    public let permutation: ChannelPermutation<B>?
    /// The coupling.
    public let coupling: AffineCoupling<B>

    /// Step `k` of level `i`, named `levels.i.steps.k.…`.
    public init(_ backend: B, config: GlowConfig, level i: Int, step k: Int, seed: UInt64) throws {
        let c = config.levelChannels(i)
        let prefix = "levels.\(i).steps.\(k)"
        let stream = UInt64(1000 * (i + 1) + 10 * k) << 8
        actnorm = try ActNorm(backend, channels: c, prefix: prefix + ".actnorm")
        switch config.permutation {
        case .invconv:
            invconv = try InvertibleConv1x1(backend, channels: c, lu: config.lu, prefix: prefix + ".invconv",
                                            seed: seed, stream: stream)
            permutation = nil
        case .reverse, .shuffle:
            invconv = nil
            permutation = try ChannelPermutation(backend, channels: c, shuffle: config.permutation == .shuffle,
                                                 prefix: prefix + ".shuffle", seed: seed, stream: stream)
        }
        coupling = try AffineCoupling(backend, channels: c, hidden: config.hidden, kind: config.coupling,
                                      prefix: prefix + ".coupling", seed: seed, stream: stream + 2)
    }

    /// The step's float tensors in checkpoint order.
    public var parameters: [Parameter<B>] {
        actnorm.parameters + (invconv?.parameters ?? []) + coupling.parameters
    }

    /// x → y, accumulating the log-determinant in `ctx`.
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> Tensor<B> {
        var h = try actnorm.forward(x, ctx)
        if let invconv { h = try invconv.forward(h, ctx) } else if let permutation { h = try permutation.forward(h) }
        return try coupling.forward(h, ctx)
    }

    /// y → x.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> {
        var h = try coupling.reverse(y)
        if let invconv { h = try invconv.reverse(h) } else if let permutation { h = try permutation.reverse(h) }
        return try actnorm.reverse(h)
    }
}

extension FlowStep {
    /// Backward through the step from its output `y` and `dy`. With `input` (memory mode
    /// `store`) the intermediate activations are recomputed forward from it; without
    /// (`reversible`) they are recovered through the inverses. Returns the step's input
    /// and ∂loss/∂input.
    public func backward(input: Tensor<B>?, output y: Tensor<B>, dy: Tensor<B>, logdetGrad: Float,
                         kept: FlowContext<B>? = nil) throws -> (Tensor<B>, Tensor<B>) {
        let x0: Tensor<B>?, x1: Tensor<B>, x2: Tensor<B>, dx2: Tensor<B>
        if let input {
            x0 = input
            let scratch = try FlowContext(actnorm.backend, images: input.images, tracksLogdet: false)
            x1 = try actnorm.forward(input, scratch)
            x2 = try invconv?.forward(x1, scratch) ?? permutation!.forward(x1)
            (_, dx2) = try coupling.backward(input: x2, output: nil, dy: dy, logdetGrad: logdetGrad, kept: kept)
        } else {
            x0 = nil
            (x2, dx2) = try coupling.backward(input: nil, output: y, dy: dy, logdetGrad: logdetGrad)
            x1 = try invconv?.reverse(x2) ?? permutation!.reverse(x2)
        }
        let dx1 = try invconv?.backward(input: x1, dy: dx2, logdetGrad: logdetGrad) ?? permutation!.backward(dy: dx2)
        let dx0 = try actnorm.backward(output: x1, dy: dx1, logdetGrad: logdetGrad)
        return (try x0 ?? actnorm.reverse(x1), dx0)
    }
}
