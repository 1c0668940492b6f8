/// Every trainable tensor of a model as a view into one device buffer, and their gradients
/// as views into a second buffer of the same layout: the optimizer updates the whole model
/// in one launch, the gradient norm is one reduction and the all-reduce of data-parallel
/// training moves one buffer. Checkpoints still name and shape each tensor
/// (`Parameter.name`, `Parameter.shape`); only where it lives changed.
///
/// Layout: tensor k at `offsets[k]`, each start rounded up to `Backend.viewAlignment`,
/// zeros in between (a zero gradient leaves a zero parameter where it is under Adam and
/// Adamax); after the last tensor, the gradient buffer's `lossSlot`, which `markLoss`
/// sets to 0 when the step's loss is finite and to NaN when it is not, so the gradient
/// norm over the whole buffer (and its all-reduce over ranks) carries the loss's
/// finiteness to the device's skip decision.
public final class ParameterArena<B: Backend> {
    /// The tensors, in model order.
    public let parameters: [Parameter<B>]
    /// Where each tensor starts, in floats.
    public let offsets: [Int]
    /// Floats in each buffer, padding and the loss slot included.
    public let count: Int
    /// The gradient buffer's slot that is 0 for a finite loss and NaN otherwise.
    public let lossSlot: Int
    /// The values.
    public let values: B.Buffer
    let backend: B
    private var gradientBuffer: B.Buffer?

    /// Moves `parameters` (already holding their values) into one buffer and rebinds each
    /// to a view of it.
    public init(_ backend: B, parameters: [Parameter<B>]) throws {
        self.backend = backend; self.parameters = parameters
        let align = max(1, backend.viewAlignment)
        var offsets: [Int] = [], end = 0
        for p in parameters {
            offsets.append(end)
            end += (p.count + align - 1) / align * align
        }
        self.offsets = offsets
        lossSlot = end
        count = end + 1
        values = try backend.zeros(count)
        for (p, o) in zip(parameters, offsets) {
            try backend.copy2D(p.value, srcOffset: 0, srcStride: 0, values, dstOffset: o, dstStride: 0, rows: 1, cols: p.count)
            p.value = try backend.view(of: values, offset: o, count: p.count)
            p.storedGradient = nil
        }
        for p in parameters { p.arena = self }
    }

    /// The gradient buffer (allocated, zeroed and handed out as views on first use).
    public func gradients() throws -> B.Buffer {
        if let g = gradientBuffer { return g }
        let g = try backend.zeros(count)
        for (p, o) in zip(parameters, offsets) { p.storedGradient = try backend.view(of: g, offset: o, count: p.count) }
        gradientBuffer = g
        return g
    }

    /// Writes into the loss slot `0 · Σ` of `record`'s per-image loss terms: 0 when they are
    /// all finite, NaN when any is not (two launches, no wait).
    public func markLoss(_ record: StepRecord<B>) throws {
        let g = try gradients()
        try backend.fill(g, offset: lossSlot, count: 1, value: 0)
        try backend.addScaledSum(record.buffer, xOffset: record.logdetOffset, count: record.logpOffset + record.images - record.logdetOffset,
                                 scale: 0, out: g, outOffset: lossSlot, outCount: 1)
    }
}

/// The floats a training step leaves on the device for the host to read once, at its end:
/// `[0]` Σ g² over the gradient arena, `[1]` the clipping factor applied, `[2]` 1 when the
/// update was applied (0: skipped), `[3]` the gradient norm, then (from `logdetOffset`) the
/// batch's per-image log-determinants and (from `logpOffset`) log-densities, in nats.
public struct StepRecord<B: Backend> {
    /// The slots before the per-image values.
    public static var fixedSlots: Int { 4 }
    /// Images per step.
    public let images: Int
    /// Where the log-determinants start.
    public let logdetOffset: Int
    /// Where the log-densities start.
    public let logpOffset: Int
    /// The device buffer.
    public let buffer: B.Buffer
    /// Views of the two per-image blocks (what `FlowContext` accumulates into).
    public let logdet: B.Buffer, logp: B.Buffer

    /// A record for `images` per step on `backend`.
    public init(_ backend: B, images: Int) throws {
        let a = max(1, backend.viewAlignment)
        func up(_ n: Int) -> Int { (n + a - 1) / a * a }
        self.images = images
        logdetOffset = up(StepRecord.fixedSlots)
        logpOffset = up(logdetOffset + images)
        buffer = try backend.zeros(logpOffset + images)
        logdet = try backend.view(of: buffer, offset: logdetOffset, count: images)
        logp = try backend.view(of: buffer, offset: logpOffset, count: images)
    }

    /// The values read back at the end of a step.
    public struct Values: Sendable {
        /// Σ g², the clipping factor, applied (1 or 0), the norm.
        public let sumOfSquares: Float, clipFactor: Float, applied: Bool, norm: Float
        /// Per image log-determinant and log-density, nats.
        public let logdet: [Float], logp: [Float]
    }

    /// One download of the whole record (the step's one host wait).
    public func read(_ backend: B) throws -> Values {
        let r = try backend.download(buffer, offset: 0, count: logpOffset + images)
        return Values(sumOfSquares: r[0], clipFactor: r[1], applied: r[2] != 0, norm: r[3],
                      logdet: Array(r[logdetOffset..<(logdetOffset + images)]), logp: Array(r[logpOffset..<(logpOffset + images)]))
    }
}
