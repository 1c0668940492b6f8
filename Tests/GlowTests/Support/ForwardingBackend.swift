import GlowCore

/// A backend that forwards every requirement of `Backend` to `inner`, each member first
/// telling `forwarding(_:)` which `BackendOperation` it is: the base of the test backends
/// that change one or two operations (`FaultyBackend`, `PrecisionSpy`, `RecordingBackend`),
/// which override only those.
///
/// Every requirement is here, those with a default implementation too, so that an operation
/// reaches `inner`'s own implementation (a default would run on this wrapper instead). When
/// the protocol gains a requirement, add its `BackendOperation` case and its member here
/// (`ForwardingBackendTests` checks that each case is forwarded by its own member).
class ForwardingBackend<Inner: Backend>: Backend {
    typealias Buffer = Inner.Buffer

    /// The backend that does the work.
    let inner: Inner
    init(_ inner: Inner) { self.inner = inner }

    /// Called by every member with its operation before it forwards; nothing by default.
    func forwarding(_ operation: BackendOperation) {}

    // MARK: Buffers

    var name: String { forwarding(.name); return inner.name }
    func allocate(_ count: Int) throws -> Buffer { forwarding(.allocate); return try inner.allocate(count) }
    func count(of buffer: Buffer) -> Int { forwarding(.count); return inner.count(of: buffer) }
    func upload(_ values: [Float], to buffer: Buffer, offset: Int) throws {
        forwarding(.upload)
        try inner.upload(values, to: buffer, offset: offset)
    }
    func download(_ buffer: Buffer, offset: Int, count: Int) throws -> [Float] {
        forwarding(.download)
        return try inner.download(buffer, offset: offset, count: count)
    }
    func download(_ buffer: Buffer, offset: Int, count: Int, into destination: UnsafeMutablePointer<Float>) throws {
        forwarding(.downloadInto)
        try inner.download(buffer, offset: offset, count: count, into: destination)
    }
    func upload(from source: UnsafePointer<Float>, count: Int, to buffer: Buffer, offset: Int) throws {
        forwarding(.uploadFrom)
        try inner.upload(from: source, count: count, to: buffer, offset: offset)
    }
    func fill(_ buffer: Buffer, offset: Int, count: Int, value: Float) throws {
        forwarding(.fill)
        try inner.fill(buffer, offset: offset, count: count, value: value)
    }
    func copy2D(_ src: Buffer, srcOffset: Int, srcStride: Int, _ dst: Buffer, dstOffset: Int, dstStride: Int, rows: Int, cols: Int) throws {
        forwarding(.copy2D)
        try inner.copy2D(src, srcOffset: srcOffset, srcStride: srcStride, dst, dstOffset: dstOffset, dstStride: dstStride, rows: rows, cols: cols)
    }
    func copyStrided(_ src: Buffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int, _ dst: Buffer, dstOffset: Int,
                     dstRowStride: Int, dstColStride: Int, rows: Int, cols: Int) throws {
        forwarding(.copyStrided)
        try inner.copyStrided(src, srcOffset: srcOffset, srcRowStride: srcRowStride, srcColStride: srcColStride, dst, dstOffset: dstOffset,
                              dstRowStride: dstRowStride, dstColStride: dstColStride, rows: rows, cols: cols)
    }
    func synchronize() throws { forwarding(.synchronize); try inner.synchronize() }

    // MARK: Linear algebra

    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Buffer, aOffset: Int, lda: Int,
              b: Buffer, bOffset: Int, ldb: Int, beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws {
        forwarding(.gemm)
        try inner.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, aOffset: aOffset, lda: lda,
                       b: b, bOffset: bOffset, ldb: ldb, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
    }
    func im2col3x3(_ x: Buffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int, columns: Buffer) throws {
        forwarding(.im2col3x3)
        try inner.im2col3x3(x, xOffset: xOffset, channels: channels, images: images, height: height, width: width, columns: columns)
    }
    func col2im3x3(_ columns: Buffer, channels: Int, images: Int, height: Int, width: Int, x: Buffer, xOffset: Int) throws {
        forwarding(.col2im3x3)
        try inner.col2im3x3(columns, channels: channels, images: images, height: height, width: width, x: x, xOffset: xOffset)
    }

    // MARK: 3×3 convolution

    func conv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int {
        forwarding(.conv3x3ScratchCount)
        return inner.conv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images, height: height, width: width)
    }
    func conv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int, images: Int, height: Int,
                        width: Int, y: Buffer, yOffset: Int, columns: Buffer?) throws {
        forwarding(.conv3x3Forward)
        try inner.conv3x3Forward(x, xOffset: xOffset, weight: weight, inChannels: inChannels, outChannels: outChannels, images: images,
                                 height: height, width: width, y: y, yOffset: yOffset, columns: columns)
    }
    func conv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int, images: Int,
                             height: Int, width: Int, dx: Buffer, dxOffset: Int, columns: Buffer?) throws {
        forwarding(.conv3x3BackwardData)
        try inner.conv3x3BackwardData(dy, dyOffset: dyOffset, weight: weight, inChannels: inChannels, outChannels: outChannels,
                                      images: images, height: height, width: width, dx: dx, dxOffset: dxOffset, columns: columns)
    }
    func conv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels: Int, outChannels: Int, images: Int,
                                height: Int, width: Int, dw: Buffer, columns: Buffer?) throws {
        forwarding(.conv3x3BackwardWeights)
        try inner.conv3x3BackwardWeights(x, xOffset: xOffset, dy: dy, dyOffset: dyOffset, inChannels: inChannels,
                                         outChannels: outChannels, images: images, height: height, width: width, dw: dw,
                                         columns: columns)
    }

    // MARK: Operations as data

    /// Every `ElementOp`: notes `.run`, then the operation itself (`forwarding(element:)`).
    func run(_ op: ElementOp, _ args: [OpArgument<Buffer>]) throws {
        forwarding(.run)
        forwarding(element: op)
        try inner.run(op, args)
    }
    /// Called by `run` with its `ElementOp`; nothing by default.
    func forwarding(element op: ElementOp) {}

    // MARK: Elementwise and per-channel

    func channelAffine(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, bias: Buffer, logs: Buffer, factor: Float, reverse: Bool,
                       relu: Bool, y: Buffer, yOffset: Int) throws {
        forwarding(.channelAffine)
        try inner.channelAffine(x, xOffset: xOffset, rows: rows, cols: cols, bias: bias, logs: logs, factor: factor, reverse: reverse,
                                relu: relu, y: y, yOffset: yOffset)
    }
    func channelAffineBackward(dy: Buffer, y: Buffer, logs: Buffer, factor: Float, rows: Int, cols: Int, logsConstant: Float,
                               relu: Bool, dx: Buffer, gradBias: Buffer, gradLogs: Buffer) throws {
        forwarding(.channelAffineBackward)
        try inner.channelAffineBackward(dy: dy, y: y, logs: logs, factor: factor, rows: rows, cols: cols, logsConstant: logsConstant,
                                        relu: relu, dx: dx, gradBias: gradBias, gradLogs: gradLogs)
    }
    func binary(_ op: BinaryOp, _ a: Buffer, aOffset: Int, _ b: Buffer, bOffset: Int, y: Buffer, yOffset: Int, count: Int) throws {
        forwarding(.binary)
        try inner.binary(op, a, aOffset: aOffset, b, bOffset: bOffset, y: y, yOffset: yOffset, count: count)
    }
    func rowSums(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: Buffer) throws {
        forwarding(.rowSums)
        try inner.rowSums(x, xOffset: xOffset, rows: rows, cols: cols, squares: squares, out: out)
    }
    func sumOfSquares(_ x: Buffer, count: Int, out: Buffer, outIndex: Int) throws {
        forwarding(.sumOfSquares)
        try inner.sumOfSquares(x, count: count, out: out, outIndex: outIndex)
    }
    func rowDots(_ a: Buffer, _ b: Buffer, rows: Int, cols: Int, out: Buffer) throws {
        forwarding(.rowDots)
        try inner.rowDots(a, b, rows: rows, cols: cols, out: out)
    }
    func sampleSums(_ x: Buffer, xOffset: Int, rows: Int, images: Int, spatial: Int, out: Buffer, accumulate: Bool) throws {
        forwarding(.sampleSums)
        try inner.sampleSums(x, xOffset: xOffset, rows: rows, images: images, spatial: spatial, out: out, accumulate: accumulate)
    }
    func squeeze(_ x: Buffer, y: Buffer, channels: Int, images: Int, height: Int, width: Int, inverse: Bool) throws {
        forwarding(.squeeze)
        try inner.squeeze(x, y: y, channels: channels, images: images, height: height, width: width, inverse: inverse)
    }

    // MARK: Fused Glow operations

    func affineCouplingBackward(_ x: Buffer, h: Buffer, dy: Buffer, half: Int, cols: Int, logdetGrad: Float, dx: Buffer, dh: Buffer) throws {
        forwarding(.affineCouplingBackward)
        try inner.affineCouplingBackward(x, h: h, dy: dy, half: half, cols: cols, logdetGrad: logdetGrad, dx: dx, dh: dh)
    }

    // MARK: Views, counters and the training step on the device

    var viewAlignment: Int { forwarding(.viewAlignment); return inner.viewAlignment }
    func view(of buffer: Buffer, offset: Int, count: Int) throws -> Buffer {
        forwarding(.view)
        return try inner.view(of: buffer, offset: offset, count: count)
    }
    var counters: DeviceCounters { forwarding(.counters); return inner.counters }
    func addScaledSum(_ x: Buffer, xOffset: Int, count: Int, scale: Float, out: Buffer, outOffset: Int, outCount: Int) throws {
        forwarding(.addScaledSum)
        try inner.addScaledSum(x, xOffset: xOffset, count: count, scale: scale, out: out, outOffset: outOffset, outCount: outCount)
    }
    func luWeight(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int, weight: Buffer) throws {
        forwarding(.luWeight)
        try inner.luWeight(p: p, lower: lower, upper: upper, logS: logS, signS: signS, channels: channels, weight: weight)
    }
    func luInverse(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int, inverse: Buffer) throws {
        forwarding(.luInverse)
        try inner.luInverse(p: p, lower: lower, upper: upper, logS: logS, signS: signS, channels: channels, inverse: inverse)
    }
    func luBackward(dw: Buffer, p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int,
                    logdetScale: Float, gLower: Buffer, gUpper: Buffer, gLogS: Buffer) throws {
        forwarding(.luBackward)
        try inner.luBackward(dw: dw, p: p, lower: lower, upper: upper, logS: logS, signS: signS, channels: channels,
                             logdetScale: logdetScale, gLower: gLower, gUpper: gUpper, gLogS: gLogS)
    }
    func dequantize(_ pixels: Buffer, images: Int, channels: Int, height: Int, width: Int, nBits: Int, scalars: Buffer, x: Buffer) throws {
        forwarding(.dequantize)
        try inner.dequantize(pixels, images: images, channels: channels, height: height, width: width, nBits: nBits, scalars: scalars, x: x)
    }
    func stepDecide(record: Buffer, scalars: Buffer) throws {
        forwarding(.stepDecide)
        try inner.stepDecide(record: record, scalars: scalars)
    }
    func arenaUpdate(_ parameters: Buffer, gradients: Buffer, m: Buffer, v: Buffer, ema: Buffer?, record: Buffer, scalars: Buffer,
                     count: Int, beta1: Float, beta2: Float, epsilon: Float, adamax: Bool) throws {
        forwarding(.arenaUpdate)
        try inner.arenaUpdate(parameters, gradients: gradients, m: m, v: v, ema: ema, record: record, scalars: scalars, count: count,
                              beta1: beta1, beta2: beta2, epsilon: epsilon, adamax: adamax)
    }

    // MARK: Recorded steps

    func record(_ body: () throws -> Void) throws -> RecordedWork? { forwarding(.record); return try inner.record(body) }
    var recordsWork: Bool { forwarding(.recordsWork); return inner.recordsWork }
    func replay(_ work: RecordedWork) throws { forwarding(.replay); try inner.replay(work) }

    // MARK: Random numbers

    func random(_ buffer: Buffer, offset: Int, count: Int, distribution: RandomDistribution, seed: UInt64, stream: UInt64) throws {
        forwarding(.random)
        try inner.random(buffer, offset: offset, count: count, distribution: distribution, seed: seed, stream: stream)
    }
}

/// A `ForwardingBackend` that notes every operation it forwards, in order.
final class RecordingBackend<Inner: Backend>: ForwardingBackend<Inner> {
    private(set) var calls: [BackendOperation] = []
    /// The `ElementOp`s among them (each also noted in `calls` as `.run`).
    private(set) var elementCalls: [ElementOp] = []
    override func forwarding(_ operation: BackendOperation) { calls.append(operation) }
    override func forwarding(element op: ElementOp) { elementCalls.append(op) }
    /// Forgets the calls noted so far.
    func reset() { calls = []; elementCalls = [] }
}
