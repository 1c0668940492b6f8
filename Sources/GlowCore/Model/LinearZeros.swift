/// LinearZeros: `(W · v + bias) ⊙ exp(3 · logs)`, zero-initialised, on column vectors
/// `v` stored as `[in, N]` (one column per image). The class embedding and the classifier
/// of class-conditional models.
public final class LinearZeros<B: Backend> {
    /// `[out, in]`.
    public let weight: Parameter<B>
    /// `[out]`.
    public let bias: Parameter<B>
    /// `[out]`, scaled by 3.
    public let logs: Parameter<B>
    let backend: B
    let inputs: Int, outputs: Int
    /// A zero bias of `outputs`, for the backward pass (made once).
    let zero: B.Buffer

    /// A zero-initialised layer named `prefix.weight`, `.bias`, `.logs`.
    public init(_ backend: B, in i: Int, out o: Int, prefix: String) throws {
        self.backend = backend; inputs = i; outputs = o
        weight = try Parameter(backend, name: prefix + ".weight", shape: [o, i], values: .init(repeating: 0, count: o * i))
        bias = try Parameter(backend, name: prefix + ".bias", shape: [o], values: .init(repeating: 0, count: o))
        logs = try Parameter(backend, name: prefix + ".logs", shape: [o], values: .init(repeating: 0, count: o))
        zero = try backend.zeros(o)
    }

    /// The layer's tensors.
    public var parameters: [Parameter<B>] { [weight, bias, logs] }

    /// `y[out, n]` for `v[in, n]`.
    public func forward(_ v: B.Buffer, columns n: Int) throws -> B.Buffer {
        let y = try backend.allocate(outputs * n)
        try backend.gemm(transA: false, transB: false, m: outputs, n: n, k: inputs, alpha: 1, a: weight.value, aOffset: 0,
                         lda: inputs, b: v, bOffset: 0, ldb: n, beta: 0, c: y, cOffset: 0, ldc: n)
        try backend.channelAffine(y, xOffset: 0, rows: outputs, cols: n, bias: bias.value, logs: logs.value,
                                  factor: Conv2dZeros<B>.logScaleFactor, reverse: false, y: y, yOffset: 0)
        return y
    }

    /// Backward from input `v`, output `y` and `dy`: the parameter gradients, and `dv`.
    public func backward(input v: B.Buffer, output y: B.Buffer, dy: B.Buffer, columns n: Int) throws -> B.Buffer {
        let d = try backend.allocate(outputs * n)
        try backend.channelAffine(dy, xOffset: 0, rows: outputs, cols: n, bias: zero, logs: logs.value,
                                  factor: Conv2dZeros<B>.logScaleFactor, reverse: false, y: d, yOffset: 0)
        try backend.rowSums(d, xOffset: 0, rows: outputs, cols: n, squares: false, out: try bias.gradient())
        let gl = try logs.gradient()
        try backend.rowDots(dy, y, rows: outputs, cols: n, out: gl)
        try backend.scale(gl, xOffset: 0, alpha: Conv2dZeros<B>.logScaleFactor, beta: 0, y: gl, yOffset: 0, count: outputs)
        try backend.gemm(transA: false, transB: true, m: outputs, n: inputs, k: n, alpha: 1, a: d, aOffset: 0, lda: n,
                         b: v, bOffset: 0, ldb: n, beta: 0, c: try weight.gradient(), cOffset: 0, ldc: inputs)
        let dv = try backend.allocate(inputs * n)
        try backend.gemm(transA: true, transB: false, m: inputs, n: n, k: outputs, alpha: 1, a: weight.value, aOffset: 0,
                         lda: inputs, b: d, bOffset: 0, ldb: n, beta: 0, c: dv, cOffset: 0, ldc: n)
        return dv
    }
}
