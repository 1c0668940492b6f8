/// A 3×3 "same" convolution without bias, run by the backend's `conv3x3…` operations
/// (im2col + GEMM by default, implicit GEMM on the GPU kernel variant).
public final class Conv3x3<B: Backend> {
    /// `[O, C, 3, 3]`.
    public let weight: Parameter<B>
    let backend: B
    /// Input and output channels.
    public let inChannels: Int, outChannels: Int

    /// A convolution with `weight` values (`O·C·9`, row-major `[O, C, 3, 3]`).
    public init(_ backend: B, in c: Int, out o: Int, name: String, values: [Float]) throws {
        self.backend = backend; inChannels = c; outChannels = o
        weight = try Parameter(backend, name: name, shape: [o, c, 3, 3], values: values)
    }

    /// Floats of `columns` scratch this convolution needs at these sizes (0: pass nil).
    public func scratchCount(images: Int, height: Int, width: Int) -> Int {
        backend.conv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images, height: height,
                                    width: width)
    }

    /// `y[O, P] = conv(x[C, P])` for a CNHW input starting at `xOffset`; `columns` is
    /// scratch of `scratchCount` floats (nil: the backend allocates what it needs).
    public func forward(_ x: B.Buffer, xOffset: Int, images: Int, height: Int, width: Int,
                        columns: B.Buffer?, into y: B.Buffer) throws {
        try backend.conv3x3Forward(x, xOffset: xOffset, weight: weight.value, inChannels: inChannels,
                                   outChannels: outChannels, images: images, height: height, width: width,
                                   y: y, yOffset: 0, columns: columns)
    }
}

/// A 1×1 convolution without bias: one GEMM `W[O, C] · x[C, P]`.
public final class Conv1x1<B: Backend> {
    /// `[O, C, 1, 1]`.
    public let weight: Parameter<B>
    let backend: B
    /// Input and output channels.
    public let inChannels: Int, outChannels: Int

    /// A convolution with `weight` values.
    public init(_ backend: B, in c: Int, out o: Int, name: String, values: [Float]) throws {
        self.backend = backend; inChannels = c; outChannels = o
        weight = try Parameter(backend, name: name, shape: [o, c, 1, 1], values: values)
    }

    /// `y = W · x` over `cols` columns.
    public func forward(_ x: B.Buffer, cols: Int, into y: B.Buffer) throws {
        try backend.gemm(transA: false, transB: false, m: outChannels, n: cols, k: inChannels, alpha: 1,
                         a: weight.value, aOffset: 0, lda: inChannels, b: x, bOffset: 0, ldb: cols,
                         beta: 0, c: y, cOffset: 0, ldc: cols)
    }
}

/// Conv2dZeros: `(conv3×3(x) + bias) ⊙ exp(3 · logs)`, all zero at the start so that the
/// layer it ends (a coupling, a prior) starts as the identity / standard normal.
public final class Conv2dZeros<B: Backend> {
    /// The convolution.
    public let conv: Conv3x3<B>
    /// `[O]`.
    public let bias: Parameter<B>
    /// `[O]`, scaled by `logScaleFactor`.
    public let logs: Parameter<B>
    /// The official code's factor 3 on logs.
    public static var logScaleFactor: Float { 3 }
    let backend: B
    /// A zero bias of the output width, for the backward pass's `dy ⊙ exp(3·logs)` (made once).
    let zero: B.Buffer

    /// A zero-initialised layer named `prefix.weight`, `.bias`, `.logs`.
    public init(_ backend: B, in c: Int, out o: Int, prefix: String) throws {
        self.backend = backend
        conv = try Conv3x3(backend, in: c, out: o, name: prefix + ".weight", values: .init(repeating: 0, count: o * c * 9))
        bias = try Parameter(backend, name: prefix + ".bias", shape: [o], values: .init(repeating: 0, count: o))
        logs = try Parameter(backend, name: prefix + ".logs", shape: [o], values: .init(repeating: 0, count: o))
        zero = try backend.zeros(o)
    }

    /// The layer's tensors.
    public var parameters: [Parameter<B>] { [conv.weight, bias, logs] }

    /// `y[O, P]` for the CNHW input at `xOffset`.
    public func forward(_ x: B.Buffer, xOffset: Int, images: Int, height: Int, width: Int,
                        columns: B.Buffer?, into y: B.Buffer) throws {
        try conv.forward(x, xOffset: xOffset, images: images, height: height, width: width, columns: columns, into: y)
        try backend.channelAffine(y, xOffset: 0, rows: conv.outChannels, cols: images * height * width, bias: bias.value,
                                  logs: logs.value, factor: Conv2dZeros.logScaleFactor, reverse: false, y: y, yOffset: 0)
    }
}

extension Conv3x3 {
    /// Backward: `∂W = dy · colᵀ` (written), and when `dx` is given, `dx += ∂loss/∂x`.
    /// `columns` as in `forward`.
    public func backward(input x: B.Buffer, xOffset: Int, dy: B.Buffer, images: Int, height: Int, width: Int,
                         columns: B.Buffer?, dx: B.Buffer?, dxOffset: Int = 0) throws {
        try backend.conv3x3BackwardWeights(x, xOffset: xOffset, dy: dy, dyOffset: 0, inChannels: inChannels,
                                           outChannels: outChannels, images: images, height: height, width: width,
                                           dw: try weight.gradient(), columns: columns)
        guard let dx else { return }
        try backend.conv3x3BackwardData(dy, dyOffset: 0, weight: weight.value, inChannels: inChannels,
                                        outChannels: outChannels, images: images, height: height, width: width,
                                        dx: dx, dxOffset: dxOffset, columns: columns)
    }
}

extension Conv1x1 {
    /// Backward: `∂W = dy · xᵀ`, `dx = Wᵀ · dy` (written).
    public func backward(input x: B.Buffer, dy: B.Buffer, cols: Int, dx: B.Buffer) throws {
        try backend.gemm(transA: false, transB: true, m: outChannels, n: inChannels, k: cols, alpha: 1, a: dy, aOffset: 0,
                         lda: cols, b: x, bOffset: 0, ldb: cols, beta: 0, c: try weight.gradient(), cOffset: 0, ldc: inChannels)
        try backend.gemm(transA: true, transB: false, m: inChannels, n: cols, k: outChannels, alpha: 1, a: weight.value,
                         aOffset: 0, lda: inChannels, b: dy, bOffset: 0, ldb: cols, beta: 0, c: dx, cOffset: 0, ldc: cols)
    }
}

extension Conv2dZeros {
    /// Backward from the output `y` and `dy`: `dc = dy ⊙ exp(3·logs)`, `∂bias = Σ dc`,
    /// `∂logs = 3 Σ dy ⊙ y`, then the convolution's backward (`dx +=` when given).
    public func backward(input x: B.Buffer, xOffset: Int, output y: B.Buffer, dy: B.Buffer, images: Int, height: Int,
                         width: Int, columns: B.Buffer?, dx: B.Buffer?, dxOffset: Int = 0) throws {
        let o = conv.outChannels, p = images * height * width
        let dc = try backend.allocate(o * p)
        try backend.channelAffineBackward(dy: dy, y: y, logs: logs.value, factor: Conv2dZeros.logScaleFactor, rows: o, cols: p,
                                          logsConstant: 0, relu: false, dx: dc, gradBias: try bias.gradient(),
                                          gradLogs: try logs.gradient())
        try conv.backward(input: x, xOffset: xOffset, dy: dc, images: images, height: height, width: width,
                          columns: columns, dx: dx, dxOffset: dxOffset)
    }

    /// `∂logs = 3 Σ dy ⊙ y` per output channel.
    func outputScaleGradient(_ y: B.Buffer, dy: B.Buffer, rows: Int, cols: Int) throws {
        let gl = try logs.gradient()
        try backend.rowDots(dy, y, rows: rows, cols: cols, out: gl)
        try backend.scale(gl, xOffset: 0, alpha: Conv2dZeros.logScaleFactor, beta: 0, y: gl, yOffset: 0, count: rows)
    }
}
