import GlowCore

/// A backend that forwards every operation to `inner` except one, which it gets wrong in
/// a chosen way: the self-test must catch it. (Faults are injected here, never in the
/// kernels.)
final class FaultyBackend<Inner: Backend>: Backend {
    typealias Buffer = Inner.Buffer

    /// What goes wrong.
    enum Fault {
        /// `rowSums` results scaled by (1 + 1e-3): a small numerical error.
        case rowSumsScaled
        /// `gemm` leaves the last element of C unwritten (an edge-tile bug).
        case gemmSkipsLastElement
        /// `affineCouplingBackward` forgets the log-determinant term.
        case couplingBackwardIgnoresLogdet
        /// `squeeze` swaps two output elements (an indexing bug).
        case squeezeSwapsTwo
        /// The `spikeCall`-th `stepDecide` (1-based) sees Σ g² scaled by `spikeFactor²`: a
        /// gradient norm `spikeFactor` times the step's own, as a loss explosion gives.
        case normSpike
    }

    /// The `stepDecide` call that `normSpike` corrupts, and by how much it scales the norm.
    static var spikeCall: Int { 13 }
    static var spikeFactor: Float { 1000 }
    private var decisions = 0

    let inner: Inner
    let fault: Fault
    init(_ inner: Inner, fault: Fault) { self.inner = inner; self.fault = fault }

    var name: String { "faulty(\(fault)) \(inner.name)" }
    func allocate(_ count: Int) throws -> Buffer { try inner.allocate(count) }
    func count(of buffer: Buffer) -> Int { inner.count(of: buffer) }
    func upload(_ values: [Float], to buffer: Buffer, offset: Int) throws { try inner.upload(values, to: buffer, offset: offset) }
    func download(_ buffer: Buffer, offset: Int, count: Int) throws -> [Float] { try inner.download(buffer, offset: offset, count: count) }
    func fill(_ buffer: Buffer, offset: Int, count: Int, value: Float) throws { try inner.fill(buffer, offset: offset, count: count, value: value) }
    func copy2D(_ src: Buffer, srcOffset: Int, srcStride: Int, _ dst: Buffer, dstOffset: Int, dstStride: Int, rows: Int, cols: Int) throws {
        try inner.copy2D(src, srcOffset: srcOffset, srcStride: srcStride, dst, dstOffset: dstOffset, dstStride: dstStride, rows: rows, cols: cols)
    }
    func copyStrided(_ src: Buffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int, _ dst: Buffer, dstOffset: Int,
                     dstRowStride: Int, dstColStride: Int, rows: Int, cols: Int) throws {
        try inner.copyStrided(src, srcOffset: srcOffset, srcRowStride: srcRowStride, srcColStride: srcColStride, dst, dstOffset: dstOffset,
                              dstRowStride: dstRowStride, dstColStride: dstColStride, rows: rows, cols: cols)
    }
    func synchronize() throws { try inner.synchronize() }
    func stepDecide(record: Buffer, scalars: Buffer) throws {
        decisions += 1
        if fault == .normSpike && decisions == Self.spikeCall {
            var r = try inner.download(record, offset: 0, count: 1)
            r[0] *= Self.spikeFactor * Self.spikeFactor
            try inner.upload(r, to: record, offset: 0)
        }
        try inner.stepDecide(record: record, scalars: scalars)
    }
    var viewAlignment: Int { inner.viewAlignment }
    func view(of buffer: Buffer, offset: Int, count: Int) throws -> Buffer { try inner.view(of: buffer, offset: offset, count: count) }
    var counters: DeviceCounters { inner.counters }

    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Buffer, aOffset: Int, lda: Int,
              b: Buffer, bOffset: Int, ldb: Int, beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws {
        let last = cOffset + (m - 1) * ldc + n - 1
        let old = fault == .gemmSkipsLastElement && m > 0 && n > 0 ? try inner.download(c, offset: last, count: 1) : nil
        try inner.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, aOffset: aOffset, lda: lda,
                       b: b, bOffset: bOffset, ldb: ldb, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
        if let old { try inner.upload(old, to: c, offset: last) }
    }
    func im2col3x3(_ x: Buffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int, columns: Buffer) throws {
        try inner.im2col3x3(x, xOffset: xOffset, channels: channels, images: images, height: height, width: width, columns: columns)
    }
    func col2im3x3(_ columns: Buffer, channels: Int, images: Int, height: Int, width: Int, x: Buffer, xOffset: Int) throws {
        try inner.col2im3x3(columns, channels: channels, images: images, height: height, width: width, x: x, xOffset: xOffset)
    }
    // The fused convolutions go straight to `inner` (not through this wrapper's gemm), so a
    // GEMM fault stays in the GEMM rows.
    func conv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int {
        inner.conv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images, height: height, width: width)
    }
    func conv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int, images: Int, height: Int,
                        width: Int, y: Buffer, yOffset: Int, columns: Buffer?) throws {
        try inner.conv3x3Forward(x, xOffset: xOffset, weight: weight, inChannels: inChannels, outChannels: outChannels, images: images,
                                 height: height, width: width, y: y, yOffset: yOffset, columns: columns)
    }
    func conv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int, images: Int,
                             height: Int, width: Int, dx: Buffer, dxOffset: Int, columns: Buffer?) throws {
        try inner.conv3x3BackwardData(dy, dyOffset: dyOffset, weight: weight, inChannels: inChannels, outChannels: outChannels,
                                      images: images, height: height, width: width, dx: dx, dxOffset: dxOffset, columns: columns)
    }
    func conv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels: Int, outChannels: Int, images: Int,
                                height: Int, width: Int, dw: Buffer, columns: Buffer?) throws {
        try inner.conv3x3BackwardWeights(x, xOffset: xOffset, dy: dy, dyOffset: dyOffset, inChannels: inChannels,
                                         outChannels: outChannels, images: images, height: height, width: width, dw: dw,
                                         columns: columns)
    }
    func channelAffine(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, bias: Buffer, logs: Buffer, factor: Float, reverse: Bool,
                       relu: Bool, y: Buffer, yOffset: Int) throws {
        try inner.channelAffine(x, xOffset: xOffset, rows: rows, cols: cols, bias: bias, logs: logs, factor: factor, reverse: reverse,
                                relu: relu, y: y, yOffset: yOffset)
    }
    func unary(_ op: UnaryOp, _ x: Buffer, xOffset: Int, y: Buffer, yOffset: Int, count: Int) throws {
        try inner.unary(op, x, xOffset: xOffset, y: y, yOffset: yOffset, count: count)
    }
    func binary(_ op: BinaryOp, _ a: Buffer, aOffset: Int, _ b: Buffer, bOffset: Int, y: Buffer, yOffset: Int, count: Int) throws {
        try inner.binary(op, a, aOffset: aOffset, b, bOffset: bOffset, y: y, yOffset: yOffset, count: count)
    }
    func rowSums(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: Buffer) throws {
        try inner.rowSums(x, xOffset: xOffset, rows: rows, cols: cols, squares: squares, out: out)
        if fault == .rowSumsScaled {
            try inner.scale(out, xOffset: 0, alpha: 1.001, beta: 0, y: out, yOffset: 0, count: rows)
        }
    }
    func rowDots(_ a: Buffer, _ b: Buffer, rows: Int, cols: Int, out: Buffer) throws {
        try inner.rowDots(a, b, rows: rows, cols: cols, out: out)
    }
    func sampleSums(_ x: Buffer, xOffset: Int, rows: Int, images: Int, spatial: Int, out: Buffer, accumulate: Bool) throws {
        try inner.sampleSums(x, xOffset: xOffset, rows: rows, images: images, spatial: spatial, out: out, accumulate: accumulate)
    }
    func squeeze(_ x: Buffer, y: Buffer, channels: Int, images: Int, height: Int, width: Int, inverse: Bool) throws {
        try inner.squeeze(x, y: y, channels: channels, images: images, height: height, width: width, inverse: inverse)
        if fault == .squeezeSwapsTwo {
            let v = try inner.download(y, offset: 0, count: 2)
            try inner.upload([v[1], v[0]], to: y, offset: 0)
        }
    }
    func affineCoupling(_ x: Buffer, h: Buffer, half: Int, cols: Int, reverse: Bool, y: Buffer, logScale: Buffer) throws {
        try inner.affineCoupling(x, h: h, half: half, cols: cols, reverse: reverse, y: y, logScale: logScale)
    }
    func gaussianLogDensity(_ z: Buffer, zOffset: Int, h: Buffer, meanOffset: Int, logsOffset: Int, rowStride: Int, rows: Int,
                            cols: Int, out: Buffer) throws {
        try inner.gaussianLogDensity(z, zOffset: zOffset, h: h, meanOffset: meanOffset, logsOffset: logsOffset, rowStride: rowStride,
                                     rows: rows, cols: cols, out: out)
    }
    func gaussianSample(_ eps: Buffer, h: Buffer, meanOffset: Int, logsOffset: Int, rowStride: Int, rows: Int, cols: Int,
                        temperature: Float, z: Buffer, zOffset: Int) throws {
        try inner.gaussianSample(eps, h: h, meanOffset: meanOffset, logsOffset: logsOffset, rowStride: rowStride, rows: rows,
                                 cols: cols, temperature: temperature, z: z, zOffset: zOffset)
    }
    func scale(_ x: Buffer, xOffset: Int, alpha: Float, beta: Float, y: Buffer, yOffset: Int, count: Int) throws {
        try inner.scale(x, xOffset: xOffset, alpha: alpha, beta: beta, y: y, yOffset: yOffset, count: count)
    }
    func affineCouplingBackward(_ x: Buffer, h: Buffer, dy: Buffer, half: Int, cols: Int, logdetGrad: Float, dx: Buffer, dh: Buffer) throws {
        try inner.affineCouplingBackward(x, h: h, dy: dy, half: half, cols: cols,
                                         logdetGrad: fault == .couplingBackwardIgnoresLogdet ? 0 : logdetGrad, dx: dx, dh: dh)
    }
    func gaussianBackward(_ z: Buffer, zOffset: Int, h: Buffer, meanOffset: Int, logsOffset: Int, rowStride: Int, rows: Int,
                          cols: Int, scale: Float, dz: Buffer, dzOffset: Int, dh: Buffer) throws {
        try inner.gaussianBackward(z, zOffset: zOffset, h: h, meanOffset: meanOffset, logsOffset: logsOffset, rowStride: rowStride,
                                   rows: rows, cols: cols, scale: scale, dz: dz, dzOffset: dzOffset, dh: dh)
    }
    func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, learningRate: Float, beta1: Float,
                    beta2: Float, epsilon: Float, correction1: Float, correction2: Float, gradScale: Float, adamax: Bool) throws {
        try inner.adamUpdate(parameter, gradient: gradient, m: m, v: v, count: count, learningRate: learningRate, beta1: beta1,
                             beta2: beta2, epsilon: epsilon, correction1: correction1, correction2: correction2,
                             gradScale: gradScale, adamax: adamax)
    }
    func random(_ buffer: Buffer, offset: Int, count: Int, distribution: RandomDistribution, seed: UInt64, stream: UInt64) throws {
        try inner.random(buffer, offset: offset, count: count, distribution: distribution, seed: seed, stream: stream)
    }
}
