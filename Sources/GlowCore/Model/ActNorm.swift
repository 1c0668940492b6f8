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

    /// An uninitialised ActNorm over `channels`, its tensors named `prefix.bias`, `prefix.logs`.
    public init(_ backend: B, channels: Int, prefix: String) throws {
        self.backend = backend; self.channels = channels
        bias = try Parameter(backend, name: prefix + ".bias", shape: [channels], values: .init(repeating: 0, count: channels))
        logs = try Parameter(backend, name: prefix + ".logs", shape: [channels], values: .init(repeating: 0, count: channels))
    }

    /// The layer's tensors.
    public var parameters: [Parameter<B>] { [bias, logs] }

    /// Ranks whose statistics `initialize` sums (data-parallel training); nil: this
    /// process's batch alone.
    public var communicator: (any Communicator)?

    /// Sums `values` and this rank's column count over the ranks; returns the total count.
    private func reduce(_ values: inout [Double], cols: Int) throws -> Double {
        guard let communicator, communicator.size > 1 else { return Double(cols) }
        values.append(Double(cols))
        try communicator.allReduceSum(&values)
        return values.removeLast()
    }

    /// Sets b and logs from the statistics of `x` (`rows × cols`, a CNHW activation),
    /// summed over the ranks of `communicator` when it is set.
    public func initialize(from x: B.Buffer, offset: Int = 0, cols: Int) throws {
        let sums = try backend.allocate(channels)
        try backend.rowSums(x, xOffset: offset, rows: channels, cols: cols, squares: false, out: sums)
        var firstMoments = try backend.download(sums).map(Double.init)
        let total = try reduce(&firstMoments, cols: cols)
        let mean = firstMoments.map { $0 / total }
        try backend.upload(mean.map { Float(-$0) }, to: bias.value, offset: 0)
        // Second pass on the centred data avoids E[x²] - E[x]² cancellation.
        let centred = try backend.allocate(channels * cols)
        let zero = try backend.zeros(channels)
        try backend.channelAffine(x, xOffset: offset, rows: channels, cols: cols, bias: bias.value, logs: zero,
                                  factor: 1, reverse: false, y: centred, yOffset: 0)
        try backend.rowSums(centred, xOffset: 0, rows: channels, cols: cols, squares: true, out: sums)
        var squares = try backend.download(sums).map(Double.init)
        _ = try reduce(&squares, cols: cols)
        let std = squares.map { ($0 / total).squareRoot() }
        try backend.upload(std.map { Float(Foundation.log(1 / ($0 + 1e-6))) }, to: logs.value, offset: 0)
        initialized = true
    }

    /// `y = (x + b) ⊙ exp(logs)` over `channels × cols`, followed by ReLU when `relu`;
    /// `y` may be `x`.
    public func forward(_ x: B.Buffer, xOffset: Int = 0, cols: Int, relu: Bool = false, into y: B.Buffer, yOffset: Int = 0) throws {
        try backend.channelAffine(x, xOffset: xOffset, rows: channels, cols: cols, bias: bias.value, logs: logs.value,
                                  factor: 1, reverse: false, relu: relu, y: y, yOffset: yOffset)
    }

    /// `x = y ⊙ exp(-logs) - b`.
    public func reverse(_ y: B.Buffer, cols: Int, into x: B.Buffer) throws {
        try backend.channelAffine(y, xOffset: 0, rows: channels, cols: cols, bias: bias.value, logs: logs.value,
                                  factor: 1, reverse: true, y: x, yOffset: 0)
    }

    /// The flow-layer forward: initialises from `x` when the context asks, adds H·W·Σ logs
    /// to every image's log-determinant on the device.
    public func forward(_ x: Tensor<B>, _ ctx: FlowContext<B>) throws -> Tensor<B> {
        if ctx.initialize { try initialize(from: x.buffer, cols: x.cols) }
        let y = try Tensor(backend, images: x.images, channels: channels, height: x.height, width: x.width)
        try forward(x.buffer, cols: x.cols, into: y.buffer)
        try ctx.addLogdet(logs.value, count: channels, scale: Float(x.spatial), images: x.images)
        return y
    }

    /// The flow-layer reverse.
    public func reverse(_ y: Tensor<B>) throws -> Tensor<B> {
        let x = try Tensor(backend, images: y.images, channels: channels, height: y.height, width: y.width)
        try reverse(y.buffer, cols: y.cols, into: x.buffer)
        return x
    }
}

extension ActNorm {
    /// Backward from the layer's output `y` (`channels × cols`) and `dy`:
    /// `dx = dy ⊙ exp(logs)`, `∂b = Σ dx`, `∂logs = Σ dy ⊙ y + logsGradConstant` (the
    /// flow's log-determinant term `N·H·W·∂loss/∂logdet`; 0 inside the coupling network).
    /// With `relu` (ActNorm → ReLU in the coupling network) `y` is the ReLU's output and `dy`
    /// the gradient after it, masked where `y ≤ 0` (one fused `channelAffineBackward`).
    /// Writes dx into `dx`.
    public func backward(output y: B.Buffer, dy: B.Buffer, cols: Int, logsGradConstant: Float, relu: Bool = false,
                         dx: B.Buffer) throws {
        try backend.channelAffineBackward(dy: dy, y: y, logs: logs.value, factor: 1, rows: channels, cols: cols,
                                          logsConstant: logsGradConstant, relu: relu, dx: dx, gradBias: try bias.gradient(),
                                          gradLogs: try logs.gradient())
    }

    /// The flow-layer backward: from output `y` and `dy` to `dx`; `logdetGrad` is
    /// ∂loss/∂logdet of one image.
    public func backward(output y: Tensor<B>, dy: Tensor<B>, logdetGrad: Float) throws -> Tensor<B> {
        let dx = try Tensor(backend, images: y.images, channels: channels, height: y.height, width: y.width)
        try backward(output: y.buffer, dy: dy.buffer, cols: y.cols,
                     logsGradConstant: logdetGrad * Float(y.images * y.spatial), dx: dx.buffer)
        return dx
    }
}
