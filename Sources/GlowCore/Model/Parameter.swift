/// A named, trainable (or fixed) tensor of a layer, stored on the backend, named as in
/// the checkpoint (docs/glow-spec.md).
public final class Parameter<B: Backend> {
    /// Checkpoint name, e.g. `levels.0.steps.3.actnorm.bias`.
    public let name: String
    /// Shape as stored in the checkpoint.
    public let shape: [Int]
    /// The values on the device.
    public let value: B.Buffer
    /// False for tensors that are fixed after initialisation (LU's `p` and `sign_s`).
    public let trainable: Bool

    /// Allocates a parameter holding `values`.
    /// - Throws: `GlowError` when the value count does not match `shape`, or the backend's allocation error.
    public init(_ backend: B, name: String, shape: [Int], values: [Float], trainable: Bool = true) throws {
        guard let n = MemoryLimit.product(shape), values.count == n else {
            throw GlowError("\(name): \(values.count) values for shape \(shape)")
        }
        self.name = name; self.shape = shape; self.trainable = trainable; self.backend = backend
        value = try backend.makeBuffer(values)
    }

    /// Element count.
    public var count: Int { shape.reduce(1, *) }

    private var storedGradient: B.Buffer?
    let backend: B

    /// ∂loss/∂value, allocated on first use (inference never pays for it). Backward
    /// passes write it (each parameter is used once per forward pass).
    public func gradient() throws -> B.Buffer {
        if let g = storedGradient { return g }
        let g = try backend.zeros(count)
        storedGradient = g
        return g
    }
}

/// Per-pass state threaded through the flow: per-image log-determinant and log-density
/// accumulators on the device, plus the log-determinant terms that are the same for
/// every image (ActNorm, 1×1 convolution), summed on the host in Float64.
public final class FlowContext<B: Backend> {
    /// `[images]` sum of per-image log-determinant terms (couplings).
    public let logdet: B.Buffer
    /// `[images]` sum of log p of the factored-out latents.
    public let logp: B.Buffer
    /// Σ of log-determinant terms shared by all images.
    public var logdetConstant: Double = 0
    /// Initialise ActNorms from this pass's data (data-dependent initialisation).
    public let initialize: Bool
    /// Keep the coupling networks' activations for the backward pass (memory mode `store`).
    public let keepActivations: Bool
    /// What layers kept, by layer identity.
    var kept: [ObjectIdentifier: Any] = [:]
    /// Per image cross-entropy of the classifier (nats), class-conditional models only.
    public var crossEntropy: [Double]?

    /// Zeroed accumulators for `images` images.
    public init(_ backend: B, images: Int, initialize: Bool = false, keepActivations: Bool = false) throws {
        logdet = try backend.zeros(images)
        logp = try backend.zeros(images)
        self.initialize = initialize
        self.keepActivations = keepActivations
    }
}
