import GlowCore

/// A backend that forwards every operation to `inner` except one, which it gets wrong in
/// a chosen way: the self-test must catch it. (Faults are injected here, never in the
/// kernels.)
final class FaultyBackend<Inner: Backend>: ForwardingBackend<Inner> {
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
        /// Like `normSpike`, for the `spikeCall`-th and the next `spikeRunLength − 1` calls: weights
        /// that give every batch a huge gradient.
        case normSpikeRun
    }

    /// The `stepDecide` call that `normSpike` corrupts, and by how much it scales the norm.
    static var spikeCall: Int { 13 }
    static var spikeFactor: Float { 1000 }
    static var spikeRunLength: Int { 4 }
    private var decisions = 0

    let fault: Fault
    init(_ inner: Inner, fault: Fault) { self.fault = fault; super.init(inner) }

    override var name: String { "faulty(\(fault)) \(inner.name)" }

    override func stepDecide(record: Buffer, scalars: Buffer) throws {
        decisions += 1
        let spiked = fault == .normSpike ? decisions == Self.spikeCall
            : fault == .normSpikeRun && (Self.spikeCall..<Self.spikeCall + Self.spikeRunLength).contains(decisions)
        if spiked {
            var r = try inner.download(record, offset: 0, count: 1)
            r[0] *= Self.spikeFactor * Self.spikeFactor
            try inner.upload(r, to: record, offset: 0)
        }
        try inner.stepDecide(record: record, scalars: scalars)
    }

    // The fused convolutions go straight to `inner` (not through this wrapper's gemm), so a
    // GEMM fault stays in the GEMM rows.
    override func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Buffer, aOffset: Int, lda: Int,
                       b: Buffer, bOffset: Int, ldb: Int, beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws {
        let last = cOffset + (m - 1) * ldc + n - 1
        let old = fault == .gemmSkipsLastElement && m > 0 && n > 0 ? try inner.download(c, offset: last, count: 1) : nil
        try inner.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, aOffset: aOffset, lda: lda,
                       b: b, bOffset: bOffset, ldb: ldb, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
        if let old { try inner.upload(old, to: c, offset: last) }
    }

    override func rowSums(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: Buffer) throws {
        try inner.rowSums(x, xOffset: xOffset, rows: rows, cols: cols, squares: squares, out: out)
        if fault == .rowSumsScaled {
            try inner.scale(out, xOffset: 0, alpha: 1.001, beta: 0, y: out, yOffset: 0, count: rows)
        }
    }

    override func squeeze(_ x: Buffer, y: Buffer, channels: Int, images: Int, height: Int, width: Int, inverse: Bool) throws {
        try inner.squeeze(x, y: y, channels: channels, images: images, height: height, width: width, inverse: inverse)
        if fault == .squeezeSwapsTwo {
            let v = try inner.download(y, offset: 0, count: 2)
            try inner.upload([v[1], v[0]], to: y, offset: 0)
        }
    }

    override func affineCouplingBackward(_ x: Buffer, h: Buffer, dy: Buffer, half: Int, cols: Int, logdetGrad: Float,
                                         dx: Buffer, dh: Buffer) throws {
        try inner.affineCouplingBackward(x, h: h, dy: dy, half: half, cols: cols,
                                         logdetGrad: fault == .couplingBackwardIgnoresLogdet ? 0 : logdetGrad, dx: dx, dh: dh)
    }
}
