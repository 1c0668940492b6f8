/// Split at the end of every level but the last: `z1 = x[:, :C/2]` goes on, `z2 = x[:, C/2:]`
/// is factored out with the learned conditional prior `N(z2; mean, exp(logs)²)`,
/// `h = Conv2dZeros(C/2 → C)(z1)`, `mean = h[:, 0::2]`, `logs = h[:, 1::2]`.
public final class Split<B: Backend> {
    /// The prior's network.
    public let convZeros: Conv2dZeros<B>
    let backend: B
    let channels: Int

    /// The split of level `i` over `channels` channels, named `levels.i.split.conv_zeros.…`.
    public init(_ backend: B, channels c: Int, level i: Int) throws {
        self.backend = backend; channels = c
        convZeros = try Conv2dZeros(backend, in: c / 2, out: c, prefix: "levels.\(i).split.conv_zeros")
    }

    /// The layer's tensors.
    public var parameters: [Parameter<B>] { convZeros.parameters }

    /// The prior's `h` (`[C, P]`) given z1.
    func prior(_ z1: Tensor<B>) throws -> B.Buffer {
        let p = z1.cols
        let columns = try backend.scratch(convZeros.conv.scratchCount(images: z1.images, height: z1.height, width: z1.width))
        let h = try backend.allocate(channels * p)
        try convZeros.forward(z1.buffer, xOffset: 0, images: z1.images, height: z1.height, width: z1.width,
                              columns: columns, into: h)
        return h
    }

    /// Splits `x`; adds `log p(z2 | z1)` per image to `ctx.logp`. Returns (z1, z2).
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> (Tensor<B>, Tensor<B>) {
        let half = channels / 2, p = x.cols
        let z1 = try Tensor(backend, images: x.images, channels: half, height: x.height, width: x.width)
        let z2 = try Tensor(backend, images: x.images, channels: half, height: x.height, width: x.width)
        try backend.copy2D(x.buffer, srcOffset: 0, srcStride: 0, z1.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
        try backend.copy2D(x.buffer, srcOffset: half * p, srcStride: 0, z2.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
        let h = try prior(z1)
        let density = try backend.allocate(half * p)
        try backend.gaussianLogDensity(z2.buffer, zOffset: 0, h: h, meanOffset: 0, logsOffset: p, rowStride: 2,
                                       rows: half, cols: p, out: density)
        try backend.sampleSums(density, xOffset: 0, rows: half, images: x.images, spatial: x.spatial, out: ctx.logp, accumulate: true)
        return (z1, z2)
    }

    /// `concat(z1, z2)`; when `z2` is nil, draws it from the prior at `temperature` with
    /// Philox (`seed`, `stream`).
    public func reverse(_ z1: Tensor<B>, _ z2: Tensor<B>?, temperature: Float = 1, seed: UInt64 = 0,
                        stream: UInt64 = 0) throws -> Tensor<B> {
        let half = channels / 2, p = z1.cols
        let x = try Tensor(backend, images: z1.images, channels: channels, height: z1.height, width: z1.width)
        try backend.copy2D(z1.buffer, srcOffset: 0, srcStride: 0, x.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
        if let z2 {
            try backend.copy2D(z2.buffer, srcOffset: 0, srcStride: 0, x.buffer, dstOffset: half * p, dstStride: 0, rows: 1, cols: half * p)
        } else {
            let h = try prior(z1)
            let eps = try backend.allocate(half * p)
            try backend.random(eps, offset: 0, count: half * p, distribution: .normal, seed: seed, stream: stream)
            try backend.gaussianSample(eps, h: h, meanOffset: 0, logsOffset: p, rowStride: 2, rows: half, cols: p,
                                       temperature: temperature, z: x.buffer, zOffset: half * p)
        }
        return x
    }
}

extension Split {
    /// Backward of the split: from z1 (what went on), its gradient `dz1` and the factored-out
    /// `z2`, whose only loss is its prior term `scale · log p(z2 | z1)` (`scale` =
    /// ∂loss/∂logp). Returns the split's input `concat(z1, z2)` and its gradient.
    public func backward(z1: Tensor<B>, z2: Tensor<B>, dz1: Tensor<B>, scale: Float) throws -> (Tensor<B>, Tensor<B>) {
        let half = channels / 2, p = z1.cols
        let x = try reverse(z1, z2)
        let dx = try Tensor(backend, images: z1.images, channels: channels, height: z1.height, width: z1.width)
        try backend.copy2D(dz1.buffer, srcOffset: 0, srcStride: 0, dx.buffer, dstOffset: 0, dstStride: 0, rows: 1, cols: half * p)
        let h = try prior(z1)
        let dh = try backend.allocate(channels * p)
        try backend.gaussianBackward(z2.buffer, zOffset: 0, h: h, meanOffset: 0, logsOffset: p, rowStride: 2, rows: half,
                                     cols: p, scale: scale, dz: dx.buffer, dzOffset: half * p, dh: dh)
        let columns = try backend.scratch(convZeros.conv.scratchCount(images: z1.images, height: z1.height, width: z1.width))
        try convZeros.backward(input: z1.buffer, xOffset: 0, output: h, dy: dh, images: z1.images, height: z1.height,
                               width: z1.width, columns: columns, dx: dx.buffer, dxOffset: 0)
        return (x, dx)
    }
}
