/// A named, trainable (or fixed) tensor of a layer, stored on the backend, named as in
/// the checkpoint (docs/glow-spec.md).
public final class Parameter<B: Backend> {
    /// Checkpoint name, e.g. `levels.0.steps.3.actnorm.bias`.
    public let name: String
    /// Shape as stored in the checkpoint.
    public let shape: [Int]
    /// The values on the device: for a trainable tensor of a model, a view into its
    /// `ParameterArena`.
    public internal(set) var value: B.Buffer
    /// False for tensors that are fixed after initialisation (LU's `p` and `sign_s`).
    public let trainable: Bool

    /// Allocates a parameter holding `values`.
    /// - Throws: `GlowError` when the value count does not match `shape`, or the backend's allocation error.
    public init(_ backend: B, name: String, shape: [Int], values: [Float], trainable: Bool = true) throws {
        guard let n = Sizes.product(shape), values.count == n else {
            throw GlowError("\(name): \(values.count) values for shape \(shape)")
        }
        self.name = name; self.shape = shape; self.trainable = trainable; self.backend = backend
        value = try backend.makeBuffer(values)
    }

    /// Element count.
    public var count: Int { shape.reduce(1, *) }

    var storedGradient: B.Buffer?
    let backend: B
    /// The arena holding this tensor (trainable tensors of a model), which lays out the
    /// gradients too.
    weak var arena: ParameterArena<B>?

    /// ∂loss/∂value, allocated on first use (inference never pays for it): in the arena's
    /// gradient buffer when the tensor is in one. Backward passes write it (each parameter
    /// is used once per forward pass).
    public func gradient() throws -> B.Buffer {
        if let g = storedGradient { return g }
        if let arena {
            _ = try arena.gradients()
            if let g = storedGradient { return g }
        }
        let g = try backend.zeros(count)
        storedGradient = g
        return g
    }
}

/// Per-pass state threaded through the flow: per-image log-determinant and log-density
/// accumulators on the device. Every layer adds its terms where they arise, on the device
/// (the couplings per image, ActNorm and the 1×1 convolution the same value to every
/// image), so reading the objective is one download at the end of the pass.
public final class FlowContext<B: Backend> {
    let backend: B
    /// `[images]` sum of per-image log-determinant terms.
    public let logdet: B.Buffer
    /// `[images]` sum of log p of the factored-out latents.
    public let logp: B.Buffer
    /// Whether layers add their log-determinant terms. False only for the scratch context of
    /// a backward pass that recomputes the activations of the forward pass it follows: layers
    /// may then reuse what that forward pass derived from the (unchanged) weights.
    public let tracksLogdet: Bool
    /// Initialise ActNorms from this pass's data (data-dependent initialisation).
    public let initialize: Bool
    /// Keep the coupling networks' activations for the backward pass (memory mode `store`).
    public let keepActivations: Bool
    /// What layers kept, by layer identity.
    var kept: [ObjectIdentifier: Any] = [:]
    /// Per image cross-entropy of the classifier (nats), class-conditional models only.
    public var crossEntropy: [Double]?

    /// Zeroed accumulators for `images` images (none, and nothing added, when not
    /// `tracksLogdet`).
    public init(_ backend: B, images: Int, initialize: Bool = false, keepActivations: Bool = false,
                tracksLogdet: Bool = true) throws {
        self.backend = backend
        logdet = tracksLogdet ? try backend.zeros(images) : try backend.allocate(0)
        logp = tracksLogdet ? try backend.zeros(images) : try backend.allocate(0)
        self.tracksLogdet = tracksLogdet
        self.initialize = initialize
        self.keepActivations = keepActivations
    }

    /// Accumulators in a training step's record (zeroed here), read with the rest of the
    /// record in the step's one download.
    public init(_ backend: B, record: StepRecord<B>, keepActivations: Bool) throws {
        self.backend = backend
        logdet = record.logdet; logp = record.logp
        try backend.fill(logdet, offset: 0, count: record.images, value: 0)
        try backend.fill(logp, offset: 0, count: record.images, value: 0)
        tracksLogdet = true; initialize = false
        self.keepActivations = keepActivations
    }

    /// Adds `scale · Σ x[0 ..< count]` to every image's log-determinant (one launch).
    func addLogdet(_ x: B.Buffer, count: Int, scale: Float, images: Int) throws {
        guard tracksLogdet else { return }
        try backend.addScaledSum(x, xOffset: 0, count: count, scale: scale, out: logdet, outOffset: 0, outCount: images)
    }

    /// Adds `value` to every image's log-determinant (one launch).
    func addLogdet(_ value: Float, images: Int) throws {
        guard tracksLogdet else { return }
        try backend.scale(logdet, xOffset: 0, alpha: 1, beta: value, y: logdet, yOffset: 0, count: images)
    }
}
