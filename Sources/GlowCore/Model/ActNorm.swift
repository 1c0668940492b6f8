import Foundation

/// Activation normalisation: a per-channel affine map `y = (x + b) ⊙ exp(logs)`,
/// initialised from data so the first batch comes out with zero mean and unit variance
/// per channel. logdet `+= H·W·Σ logs`. Also used inside the coupling network.
public final class ActNorm<B: Backend> {
    /// Per-channel bias `b`, `[C]`.
    public let bias: Parameter<B>
    /// Per-channel log-scale, `[C]`.
    public let logs: Parameter<B>
    /// Whether data-dependent initialisation has run (or values were loaded).
    public var initialized = false
    let backend: B
    let channels: Int
    /// Σ logs, refreshed from the device whenever the parameters change.
    private(set) var logsSum: Double = 0

    /// An uninitialised ActNorm over `channels`, its tensors named `prefix.bias`, `prefix.logs`.
    public init(_ backend: B, channels: Int, prefix: String) throws {
        self.backend = backend; self.channels = channels
        bias = try Parameter(backend, name: prefix + ".bias", shape: [channels], values: .init(repeating: 0, count: channels))
        logs = try Parameter(backend, name: prefix + ".logs", shape: [channels], values: .init(repeating: 0, count: channels))
    }

    /// The layer's tensors.
    public var parameters: [Parameter<B>] { [bias, logs] }

    /// Re-reads what the host caches (Σ logs) after the parameters changed.
    public func refresh() throws {
        logsSum = try backend.download(logs.value).reduce(0.0) { $0 + Double($1) }
    }

    /// Sets b and logs from the statistics of `x` (`rows × cols`, a CNHW activation).
    public func initialize(from x: B.Buffer, offset: Int = 0, cols: Int) throws {
        let sums = try backend.allocate(channels)
        try backend.rowSums(x, xOffset: offset, rows: channels, cols: cols, squares: false, out: sums)
        let mean = try backend.download(sums).map { Double($0) / Double(cols) }
        try backend.upload(mean.map { Float(-$0) }, to: bias.value, offset: 0)
        // Second pass on the centred data avoids E[x²] - E[x]² cancellation.
        let centred = try backend.allocate(channels * cols)
        let zero = try backend.zeros(channels)
        try backend.channelAffine(x, xOffset: offset, rows: channels, cols: cols, bias: bias.value, logs: zero,
                                  factor: 1, reverse: false, y: centred, yOffset: 0)
        try backend.rowSums(centred, xOffset: 0, rows: channels, cols: cols, squares: true, out: sums)
        let std = try backend.download(sums).map { (Double($0) / Double(cols)).squareRoot() }
        try backend.upload(std.map { Float(Foundation.log(1 / ($0 + 1e-6))) }, to: logs.value, offset: 0)
        initialized = true
        try refresh()
    }

    /// `y = (x + b) ⊙ exp(logs)` over `channels × cols`; `y` may be `x`.
    public func forward(_ x: B.Buffer, xOffset: Int = 0, cols: Int, into y: B.Buffer, yOffset: Int = 0) throws {
        try backend.channelAffine(x, xOffset: xOffset, rows: channels, cols: cols, bias: bias.value, logs: logs.value,
                                  factor: 1, reverse: false, y: y, yOffset: yOffset)
    }

    /// `x = y ⊙ exp(-logs) - b`.
    public func reverse(_ y: B.Buffer, cols: Int, into x: B.Buffer) throws {
        try backend.channelAffine(y, xOffset: 0, rows: channels, cols: cols, bias: bias.value, logs: logs.value,
                                  factor: 1, reverse: true, y: x, yOffset: 0)
    }

    /// The flow-layer forward: initialises from `x` when the context asks, adds H·W·Σ logs.
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> Tensor<B> {
        if ctx.initialize { try initialize(from: x.buffer, cols: x.cols) }
        let y = try Tensor(backend, images: x.images, channels: channels, height: x.height, width: x.width)
        try forward(x.buffer, cols: x.cols, into: y.buffer)
        ctx.logdetConstant += Double(x.spatial) * logsSum
        return y
    }

    /// The flow-layer reverse.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> {
        let x = try Tensor(backend, images: y.images, channels: channels, height: y.height, width: y.width)
        try reverse(y.buffer, cols: y.cols, into: x.buffer)
        return x
    }
}
