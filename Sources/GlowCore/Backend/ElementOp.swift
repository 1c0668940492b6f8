/// Operations described as data: each computes its outputs element by element, one
/// work-item per output element, from arguments in a fixed order whose last is the number
/// of work-items. Every backend runs all of them through one requirement,
/// `Backend.run(_:_:)`: a backend that runs kernels.cl launches the kernel named
/// `kernelName` with the arguments as given (checked against the kernel's declaration), the
/// CPU backend switches on the case, and wrapper backends forward `run` once for all.
///
/// A new operation of this kind is four files: its case here (the maths, the arguments, and
/// its typed entry point in the extension below), its CPU code (`CPUBackend+ElementOps.swift`),
/// its kernel in kernels.cl, and its self-test row (`SelfTest/ElementOpChecks.swift`), which
/// the parity suite runs on every backend against Float64. docs/architecture.md lists them.
public enum ElementOp: String, CaseIterable, Sendable {
    /// `y[yOffset + i] = alpha · x[xOffset + i] + beta` for `i < count`.
    ///
    /// Arguments: `x`, `xOffset`, `alpha`, `beta`, `y`, `yOffset`, `count` (the work-items).
    case scale = "scale_shift"
    /// Re-lays 3×3 weights between `[O, C, 3, 3]` and the tap-major, tap-flipped `[O, 9, C]`
    /// of the narrow-output convolution lowering: `toTaps` writes `dst[(o·9 + t)·C + c] =
    /// src[(o·C + c)·9 + 8 − t]`, else the inverse `dst[(o·C + c)·9 + t] = src[(o·9 + 8 − t)·C + c]`.
    ///
    /// Arguments: `src`, `dst`, `C`, `toTaps` (1 or 0), `O·9·C` (the work-items).
    case flipTaps3x3 = "flip_taps3x3"
    /// Affine coupling on the second half of a CNHW activation `x` with `2·half` channels.
    /// `h` is the coupling network's output (`2·half` rows): shift in even rows, the raw
    /// scale in odd rows, `s = sigmoid(raw + 2)`. Forward `y2 = (x2 + shift) · s`, reverse
    /// `y2 = x2 / s - shift`; `y1 = x1` both ways. `logScale` (`half × cols`) receives
    /// `log s` for the log-determinant.
    ///
    /// Arguments: `x`, `h`, `half`, `cols`, `reverse` (1 or 0), `y`, `logScale`, `half·cols`
    /// (the work-items; each also copies its element of the first half).
    case affineCoupling = "affine_coupling"
    /// Elementwise Gaussian log-density `log N(z; mean, exp(logs)²)` into `out` (`rows × cols`),
    /// with `mean` row r at `h[meanOffset + r·rowStride·cols]` and `logs` row r at
    /// `h[logsOffset + r·rowStride·cols]` (the split prior's interleaved rows: `rowStride` 2;
    /// the top prior's: 1).
    ///
    /// Arguments: `z`, `zOffset`, `h`, `meanOffset`, `logsOffset`, `rowStride`, `cols`, `out`,
    /// `rows·cols` (the work-items).
    case gaussianLogDensity = "gaussian_log_density"
    /// `z = mean + exp(logs) · eps · temperature`, `h` indexed as for `gaussianLogDensity`.
    ///
    /// Arguments: `eps`, `h`, `meanOffset`, `logsOffset`, `rowStride`, `cols`, `temperature`,
    /// `z`, `zOffset`, `rows·cols` (the work-items).
    case gaussianSample = "gaussian_sample"
    /// The backward pass of `scale ·` `gaussianLogDensity` (same indexing of `h`): writes
    /// `dz = -scale · (z - mean) · exp(-2·logs)`, and into `dh` at the mean and logs
    /// positions `dmean = -dz`, `dlogs = scale · ((z - mean)² · exp(-2·logs) - 1)`.
    ///
    /// Arguments: `z`, `zOffset`, `h`, `meanOffset`, `logsOffset`, `rowStride`, `cols`, `scale`,
    /// `dz`, `dzOffset`, `dh`, `rows·cols` (the work-items).
    case gaussianBackward = "gaussian_backward"

    /// The kernel of kernels.cl that runs the operation.
    public var kernelName: String { rawValue }
    /// The operation's Swift name (`flipTaps3x3`), as self-test rows and errors give it.
    public var name: String { String(describing: self) }
}

/// An `ElementOp`'s arguments taken apart by position, each of the kind the operation
/// gives it (a backend without kernels, the CPU's, reads them so).
public struct ElementOpArguments<Buffer> {
    /// The operation.
    public let op: ElementOp
    /// The arguments as passed.
    public let values: [OpArgument<Buffer>]

    /// `values` of `op`, which must be `count` arguments long.
    public init(_ op: ElementOp, _ values: [OpArgument<Buffer>], count: Int) throws {
        guard values.count == count else {
            throw GlowError("\(op.name): \(values.count) arguments where it takes \(count)")
        }
        self.op = op; self.values = values
    }
    /// Argument `i`, a buffer.
    public func buffer(_ i: Int) throws -> Buffer {
        if case let .buffer(b) = values[i] { return b }
        throw mismatch(i, .buffer)
    }
    /// Argument `i`, an `int`.
    public func int(_ i: Int) throws -> Int {
        if case let .int(v) = values[i] { return v }
        throw mismatch(i, .int)
    }
    /// Argument `i`, a `float`.
    public func float(_ i: Int) throws -> Float {
        if case let .float(v) = values[i] { return v }
        throw mismatch(i, .float)
    }
    private func mismatch(_ i: Int, _ expected: OpArgumentKind) -> GlowError {
        GlowError("\(op.name): argument \(i) is \(values[i].kind) where it takes \(expected)")
    }
}

// The typed entry points: the one place each operation's arguments are put in order and its
// buffers' extents checked, for every backend.
extension Backend {
    /// `y = alpha · x + beta` elementwise (`ElementOp.scale`).
    public func scale(_ x: Buffer, xOffset: Int, alpha: Float, beta: Float, y: Buffer, yOffset: Int, count: Int) throws {
        guard count > 0 else { return }
        try requireExtent(x, xOffset, count, .scale)
        try requireExtent(y, yOffset, count, .scale)
        try run(.scale, [.buffer(x), .int(xOffset), .float(alpha), .float(beta), .buffer(y), .int(yOffset), .int(count)])
    }

    /// Re-lays 3×3 weights between `[O, C, 3, 3]` and `[O, 9, C]` with the taps flipped
    /// (`ElementOp.flipTaps3x3`).
    public func flipTaps3x3(_ src: Buffer, _ dst: Buffer, outChannels o: Int, inChannels c: Int, toTaps: Bool) throws {
        guard let total = Sizes.product(o, 9, c) else {
            throw GlowError("flipTaps3x3 of \(o)×\(c)×3×3 weights: sizes past the largest buffer")
        }
        guard total > 0 else { return }
        try requireExtent(src, 0, total, .flipTaps3x3)
        try requireExtent(dst, 0, total, .flipTaps3x3)
        try run(.flipTaps3x3, [.buffer(src), .buffer(dst), .int(c), .int(toTaps ? 1 : 0), .int(total)])
    }

    /// Affine coupling, forward or reverse (`ElementOp.affineCoupling`).
    public func affineCoupling(_ x: Buffer, h: Buffer, half: Int, cols: Int, reverse: Bool,
                               y: Buffer, logScale: Buffer) throws {
        let total = try elements(half, cols, .affineCoupling)
        guard total > 0 else { return }
        try requireExtent(x, 0, 2 * total, .affineCoupling)
        try requireExtent(h, 0, 2 * total, .affineCoupling)
        try requireExtent(y, 0, 2 * total, .affineCoupling)
        try requireExtent(logScale, 0, total, .affineCoupling)
        try run(.affineCoupling, [.buffer(x), .buffer(h), .int(half), .int(cols), .int(reverse ? 1 : 0), .buffer(y),
                                  .buffer(logScale), .int(total)])
    }

    /// The Gaussian log-density of `z` (`ElementOp.gaussianLogDensity`).
    public func gaussianLogDensity(_ z: Buffer, zOffset: Int, h: Buffer, meanOffset: Int, logsOffset: Int,
                                   rowStride: Int, rows: Int, cols: Int, out: Buffer) throws {
        let op = ElementOp.gaussianLogDensity, total = try elements(rows, cols, op)
        guard total > 0 else { return }
        try requireExtent(z, zOffset, total, op)
        try requirePrior(h, meanOffset, logsOffset, rowStride, rows, cols, op)
        try requireExtent(out, 0, total, op)
        try run(op, [.buffer(z), .int(zOffset), .buffer(h), .int(meanOffset), .int(logsOffset), .int(rowStride), .int(cols),
                     .buffer(out), .int(total)])
    }

    /// Draws `z` from the Gaussian of `h` (`ElementOp.gaussianSample`).
    public func gaussianSample(_ eps: Buffer, h: Buffer, meanOffset: Int, logsOffset: Int, rowStride: Int,
                               rows: Int, cols: Int, temperature: Float, z: Buffer, zOffset: Int) throws {
        let op = ElementOp.gaussianSample, total = try elements(rows, cols, op)
        guard total > 0 else { return }
        try requireExtent(eps, 0, total, op)
        try requirePrior(h, meanOffset, logsOffset, rowStride, rows, cols, op)
        try requireExtent(z, zOffset, total, op)
        try run(op, [.buffer(eps), .buffer(h), .int(meanOffset), .int(logsOffset), .int(rowStride), .int(cols),
                     .float(temperature), .buffer(z), .int(zOffset), .int(total)])
    }

    /// The backward pass of `scale ·` `gaussianLogDensity` (`ElementOp.gaussianBackward`).
    public func gaussianBackward(_ z: Buffer, zOffset: Int, h: Buffer, meanOffset: Int, logsOffset: Int, rowStride: Int,
                                 rows: Int, cols: Int, scale: Float, dz: Buffer, dzOffset: Int, dh: Buffer) throws {
        let op = ElementOp.gaussianBackward, total = try elements(rows, cols, op)
        guard total > 0 else { return }
        try requireExtent(z, zOffset, total, op)
        try requirePrior(h, meanOffset, logsOffset, rowStride, rows, cols, op)
        try requireExtent(dz, dzOffset, total, op)
        try requirePrior(dh, meanOffset, logsOffset, rowStride, rows, cols, op)
        try run(op, [.buffer(z), .int(zOffset), .buffer(h), .int(meanOffset), .int(logsOffset), .int(rowStride), .int(cols),
                     .float(scale), .buffer(dz), .int(dzOffset), .buffer(dh), .int(total)])
    }

    /// `rows · cols`, overflow-checked.
    private func elements(_ rows: Int, _ cols: Int, _ op: ElementOp) throws -> Int {
        guard let total = Sizes.product(rows, cols) else {
            throw GlowError("\(op.name) of \(rows)×\(cols) elements: sizes past the largest buffer")
        }
        return total
    }

    /// Throws unless the mean and log-scale rows `h` is read at (`rows` rows of `cols`, one
    /// every `rowStride · cols` floats from each offset) lie inside it.
    private func requirePrior(_ h: Buffer, _ meanOffset: Int, _ logsOffset: Int, _ rowStride: Int, _ rows: Int, _ cols: Int,
                              _ op: ElementOp) throws {
        guard rowStride >= 1, let span = Sizes.product(rows - 1, rowStride, cols) else {
            throw GlowError("\(op.name): rows of \(cols) every \(rowStride) rows do not fit a buffer")
        }
        try requireExtent(h, meanOffset, span + cols, op)
        try requireExtent(h, logsOffset, span + cols, op)
    }

    /// Throws unless `buffer` holds `count` floats from `offset`.
    private func requireExtent(_ buffer: Buffer, _ offset: Int, _ count: Int, _ op: ElementOp) throws {
        let held = self.count(of: buffer)
        guard offset >= 0, count <= held - offset else {
            throw GlowError("\(op.name) of \(count) floats at \(offset) past a buffer of \(held)")
        }
    }
}
