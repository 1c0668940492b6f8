/// A 3×3 "same" convolution without bias: im2col, then one GEMM `W[O, C·9] · col`.
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

    /// True when the output is narrower than the input (Conv2dZeros: hidden → C). Such a
    /// convolution runs as one GEMM per tap on the output side, `Y[(o,t), P] = W_t · x`,
    /// followed by a shift-and-add (col2im), so the 9·C·P columns of the wide input are
    /// never formed; its backward passes use im2col of the narrow `dy` instead.
    var tapsOnOutput: Bool { outChannels < inChannels }

    /// W re-laid as `[(o, t), C]` with the taps flipped (`t → 8 - t`): the A operand of the
    /// output-side GEMM.
    func flippedWeights() throws -> B.Buffer {
        let c = inChannels, o = outChannels
        let wf = try backend.allocate(o * 9 * c)
        for t in 0..<9 {
            try backend.copyStrided(weight.value, srcOffset: 8 - t, srcRowStride: 9 * c, srcColStride: 9,
                                    wf, dstOffset: t * c, dstRowStride: 9 * c, dstColStride: 1, rows: o, cols: c)
        }
        return wf
    }

    /// `y[O, P] = conv(x[C, P])` for a CNHW input starting at `xOffset`; `columns` is
    /// scratch of `C·9·P` floats.
    public func forward(_ x: B.Buffer, xOffset: Int, images: Int, height: Int, width: Int,
                        columns: B.Buffer, into y: B.Buffer) throws {
        let p = images * height * width
        if tapsOnOutput {
            let o9 = outChannels * 9
            try backend.gemm(transA: false, transB: false, m: o9, n: p, k: inChannels, alpha: 1, a: try flippedWeights(),
                             aOffset: 0, lda: inChannels, b: x, bOffset: xOffset, ldb: p, beta: 0, c: columns, cOffset: 0, ldc: p)
            try backend.fill(y, offset: 0, count: outChannels * p, value: 0)
            try backend.col2im3x3(columns, channels: outChannels, images: images, height: height, width: width, x: y, xOffset: 0)
            return
        }
        try backend.im2col3x3(x, xOffset: xOffset, channels: inChannels, images: images, height: height, width: width,
                              columns: columns)
        try backend.gemm(transA: false, transB: false, m: outChannels, n: p, k: inChannels * 9, alpha: 1,
                         a: weight.value, aOffset: 0, lda: inChannels * 9, b: columns, bOffset: 0, ldb: p,
                         beta: 0, c: y, cOffset: 0, ldc: p)
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
                        columns: B.Buffer, into y: B.Buffer) throws {
        try conv.forward(x, xOffset: xOffset, images: images, height: height, width: width, columns: columns, into: y)
        try backend.channelAffine(y, xOffset: 0, rows: conv.outChannels, cols: images * height * width, bias: bias.value,
                                  logs: logs.value, factor: Conv2dZeros.logScaleFactor, reverse: false, y: y, yOffset: 0)
    }
}

extension Conv3x3 {
    /// Backward: `∂W = dy · colᵀ` (written), and when `dx` is given, `dx += col2im(Wᵀ · dy)`.
    /// `columns` is scratch of `C·9·P` floats (im2col of x is recomputed rather than kept).
    public func backward(input x: B.Buffer, xOffset: Int, dy: B.Buffer, images: Int, height: Int, width: Int,
                         columns: B.Buffer, dx: B.Buffer?, dxOffset: Int = 0) throws {
        let p = images * height * width, k9 = inChannels * 9
        if tapsOnOutput {
            // colDy[(o,t), q] = dy[o, q + s_t]; ∂W[o, c, t] = Σ_q colDy[(o, 8-t), q] x[c, q];
            // dx[c, q] += Σ_(o,t) Wflip[(o,t), c] colDy[(o,t), q].
            let o9 = outChannels * 9
            try backend.im2col3x3(dy, xOffset: 0, channels: outChannels, images: images, height: height, width: width,
                                  columns: columns)
            let g = try backend.allocate(o9 * inChannels)
            try backend.gemm(transA: false, transB: true, m: o9, n: inChannels, k: p, alpha: 1, a: columns, aOffset: 0, lda: p,
                             b: x, bOffset: xOffset, ldb: p, beta: 0, c: g, cOffset: 0, ldc: inChannels)
            let dw = try weight.gradient()
            for t in 0..<9 {
                try backend.copyStrided(g, srcOffset: (8 - t) * inChannels, srcRowStride: 9 * inChannels, srcColStride: 1,
                                        dw, dstOffset: t, dstRowStride: 9 * inChannels, dstColStride: 9,
                                        rows: outChannels, cols: inChannels)
            }
            guard let dx else { return }
            try backend.gemm(transA: true, transB: false, m: inChannels, n: p, k: o9, alpha: 1, a: try flippedWeights(),
                             aOffset: 0, lda: inChannels, b: columns, bOffset: 0, ldb: p, beta: 1, c: dx, cOffset: dxOffset, ldc: p)
            return
        }
        try backend.im2col3x3(x, xOffset: xOffset, channels: inChannels, images: images, height: height, width: width,
                              columns: columns)
        try backend.gemm(transA: false, transB: true, m: outChannels, n: k9, k: p, alpha: 1, a: dy, aOffset: 0, lda: p,
                         b: columns, bOffset: 0, ldb: p, beta: 0, c: try weight.gradient(), cOffset: 0, ldc: k9)
        guard let dx else { return }
        try backend.gemm(transA: true, transB: false, m: k9, n: p, k: outChannels, alpha: 1, a: weight.value, aOffset: 0,
                         lda: k9, b: dy, bOffset: 0, ldb: p, beta: 0, c: columns, cOffset: 0, ldc: p)
        try backend.col2im3x3(columns, channels: inChannels, images: images, height: height, width: width, x: dx,
                              xOffset: dxOffset)
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
                         width: Int, columns: B.Buffer, dx: B.Buffer?, dxOffset: Int = 0) throws {
        let o = conv.outChannels, p = images * height * width
        let dc = try backend.allocate(o * p)
        try backend.channelAffine(dy, xOffset: 0, rows: o, cols: p, bias: zero, logs: logs.value,
                                  factor: Conv2dZeros.logScaleFactor, reverse: false, y: dc, yOffset: 0)
        try backend.rowSums(dc, xOffset: 0, rows: o, cols: p, squares: false, out: try bias.gradient())
        try outputScaleGradient(y, dy: dy, rows: o, cols: p)
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
