/// The operations every compute device implements: buffers, GEMM, 3×3 convolution
/// lowering, per-channel affine maps, elementwise maps, reductions, squeeze, the fused
/// coupling and Gaussian operations of Glow, and the counter-based random generator.
///
/// Activations are stored **channel-major** (`[C][N][H][W]`, "CNHW"): a 1×1 convolution
/// over a whole batch is then one GEMM `W[O, C] · X[C, N·H·W]`, a 3×3 convolution is
/// im2col plus one GEMM, and channel slices (coupling halves, splits) are contiguous.
/// Files and public APIs use NCHW; `Tensor` converts at the boundary.
///
/// Every offset and count is in elements (Float32). Buffers belong to their backend:
/// the associated type keeps a CPU buffer from reaching the OpenCL backend.
public protocol Backend: AnyObject {
    /// Storage owned by this backend.
    associatedtype Buffer: AnyObject

    /// A short human-readable name, e.g. `cpu (OpenBLAS 0.3.21, 2 threads)`.
    var name: String { get }

    // MARK: Buffers

    /// Allocates an uninitialised buffer of `count` floats.
    func allocate(_ count: Int) throws -> Buffer
    /// The number of floats `buffer` holds.
    func count(of buffer: Buffer) -> Int
    /// Copies host values into `buffer` starting at `offset`.
    func upload(_ values: [Float], to buffer: Buffer, offset: Int) throws
    /// Copies `count` floats from `buffer` starting at `offset` to the host.
    func download(_ buffer: Buffer, offset: Int, count: Int) throws -> [Float]
    /// Copies `count` floats from `buffer` at `offset` into host memory `destination`
    /// (no array allocated: the gradient all-reduce's staging buffer).
    func download(_ buffer: Buffer, offset: Int, count: Int, into destination: UnsafeMutablePointer<Float>) throws
    /// Copies `count` floats from host memory `source` into `buffer` at `offset`.
    func upload(from source: UnsafePointer<Float>, count: Int, to buffer: Buffer, offset: Int) throws
    /// Sets `count` floats from `offset` to `value`.
    func fill(_ buffer: Buffer, offset: Int, count: Int, value: Float) throws
    /// Copies a `rows × cols` block between row-major layouts with the given row strides.
    func copy2D(_ src: Buffer, srcOffset: Int, srcStride: Int,
                _ dst: Buffer, dstOffset: Int, dstStride: Int, rows: Int, cols: Int) throws
    /// Copies a `rows × cols` block with arbitrary row and column strides on both sides
    /// (weight re-layouts; `copy2D` is the contiguous-row fast case).
    func copyStrided(_ src: Buffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int,
                     _ dst: Buffer, dstOffset: Int, dstRowStride: Int, dstColStride: Int, rows: Int, cols: Int) throws
    /// Waits until all queued work has finished.
    func synchronize() throws

    // MARK: Linear algebra

    /// `C = alpha · op(A) · op(B) + beta · C`, row-major; `op(A)` is `m × k`, `op(B)` is `k × n`.
    /// With `beta == 0`, C is not read (it may hold NaN).
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: Buffer, aOffset: Int, lda: Int, b: Buffer, bOffset: Int, ldb: Int,
              beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws
    /// Lowers a CNHW activation to columns `[C·9, N·H·W]` for a 3×3 "same" convolution;
    /// row `c·9 + ky·3 + kx` holds `x[c, n, h+ky-1, w+kx-1]` (zero outside the image).
    func im2col3x3(_ x: Buffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int,
                   columns: Buffer) throws
    /// The adjoint of `im2col3x3`: adds each column entry back onto the pixel it came from.
    func col2im3x3(_ columns: Buffer, channels: Int, images: Int, height: Int, width: Int,
                   x: Buffer, xOffset: Int) throws

    // MARK: 3×3 convolution

    // A 3×3 "same" convolution without bias over CNHW activations, weights `W[O, C, 3, 3]`
    // row-major, tap `t = 3·ky + kx` shifting by `(ky - 1, kx - 1)`. The default
    // implementations (Backend+Conv3x3.swift) lower to `im2col3x3` + `gemm` (or, when
    // `O < C`, one GEMM per tap on the narrow output side + `col2im3x3`) and need
    // `conv3x3ScratchCount` floats of `columns`; a device with an implicit-GEMM kernel
    // needs none. Passing `columns: nil` makes an operation allocate its own scratch.

    /// Floats of `columns` scratch the `conv3x3…` operations need for these sizes (0: none).
    func conv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int
    /// `y[o, n, h, w] = Σ_{c, ky, kx} W[o, c, ky, kx] · x[c, n, h + ky - 1, w + kx - 1]` (zero
    /// outside the image); `y` (`O × N·H·W` from `yOffset`) is written, never read.
    func conv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int,
                        images: Int, height: Int, width: Int, y: Buffer, yOffset: Int, columns: Buffer?) throws
    /// The data gradient, **accumulated**: `dx[c, n, h, w] += Σ_{o, ky, kx} W[o, c, ky, kx] ·
    /// dy[o, n, h - ky + 1, w - kx + 1]` (zero outside the image).
    func conv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int,
                             images: Int, height: Int, width: Int, dx: Buffer, dxOffset: Int, columns: Buffer?) throws
    /// The weight gradient, **written**: `dW[o, c, ky, kx] = Σ_{n, h, w} dy[o, n, h, w] ·
    /// x[c, n, h + ky - 1, w + kx - 1]` into `dw` (`O·C·9` floats from 0).
    func conv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels: Int, outChannels: Int,
                                images: Int, height: Int, width: Int, dw: Buffer, columns: Buffer?) throws

    // MARK: Elementwise and per-channel

    /// Per-row affine map on a `rows × cols` matrix:
    /// forward `y = (x + bias[r]) · exp(factor · logs[r])`, then `max(y, 0)` when `relu`
    /// (ActNorm → ReLU in one pass), reverse `y = x · exp(-factor · logs[r]) - bias[r]`.
    func channelAffine(_ x: Buffer, xOffset: Int, rows: Int, cols: Int,
                       bias: Buffer, logs: Buffer, factor: Float, reverse: Bool, relu: Bool,
                       y: Buffer, yOffset: Int) throws
    /// The backward pass of `channelAffine` (forward, no ReLU) from its output `y` and `dy`
    /// (`rows × cols`): writes `dx = dy · exp(factor · logs[r])`, `gradBias[r] = Σ_j dx[r, j]`
    /// and `gradLogs[r] = factor · Σ_j dy[r, j] · y[r, j] + logsConstant`. With `relu` (a ReLU
    /// after the map, ActNorm → ReLU in the coupling network) `y` is the ReLU's output and
    /// `dy` counts only where `y > 0`. `dx` may be `dy`.
    func channelAffineBackward(dy: Buffer, y: Buffer, logs: Buffer, factor: Float, rows: Int, cols: Int,
                               logsConstant: Float, relu: Bool, dx: Buffer, gradBias: Buffer, gradLogs: Buffer) throws
    /// `y = a op b` elementwise.
    func binary(_ op: BinaryOp, _ a: Buffer, aOffset: Int, _ b: Buffer, bOffset: Int,
                y: Buffer, yOffset: Int, count: Int) throws
    /// `out[r] = Σ_j x[r, j]` (or `Σ_j x[r, j]²` when `squares`) over a `rows × cols` matrix.
    func rowSums(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: Buffer) throws
    /// `out[outIndex] = Σ_i x[i]²` over the first `count` floats of `x`: one term of the
    /// global gradient norm, written straight into its slot (one launch, no copy).
    func sumOfSquares(_ x: Buffer, count: Int, out: Buffer, outIndex: Int) throws
    /// `out[r] = Σ_j a[r, j] · b[r, j]` over two `rows × cols` matrices (the scale
    /// gradients of ActNorm and Conv2dZeros, without a product buffer).
    func rowDots(_ a: Buffer, _ b: Buffer, rows: Int, cols: Int, out: Buffer) throws
    /// Per-image sums of a CNHW block: `out[n] (+)= Σ_{r, s} x[r, n·spatial + s]`.
    func sampleSums(_ x: Buffer, xOffset: Int, rows: Int, images: Int, spatial: Int,
                    out: Buffer, accumulate: Bool) throws
    /// Space-to-depth by 2: `[C, N, H, W] → [4C, N, H/2, W/2]`, input `(c, 2h+di, 2w+dj)` to
    /// channel `4c + 2di + dj`; `inverse` undoes it (`channels`, `height`, `width` are the
    /// un-squeezed sizes either way).
    func squeeze(_ x: Buffer, y: Buffer, channels: Int, images: Int, height: Int, width: Int,
                 inverse: Bool) throws

    // MARK: Operations as data

    /// Runs `op` (`ElementOp`: `scale`, `flipTaps3x3`, the affine coupling, the Gaussian
    /// log-density, sample and backward pass) with `args` in the order its case
    /// documents, the last the number of work-items. Callers use the typed entry points
    /// (ElementOp.swift), which order the arguments and check the buffers' extents.
    func run(_ op: ElementOp, _ args: [OpArgument<Buffer>]) throws

    // MARK: Training

    /// The backward pass of `affineCoupling` from its input `x` (`2·half` rows) and `h`:
    /// with `s = sigmoid(raw + 2)` and `y2 = (x2 + shift) · s`, writes `dx2 = dy2 · s` into
    /// rows `[half, 2·half)` of `dx`, and `dh` (`2·half` rows): `dshift = dy2 · s`,
    /// `draw = (1 - s) · (dy2 · y2 + logdetGrad)`, where `logdetGrad` is ∂loss/∂logdet.
    func affineCouplingBackward(_ x: Buffer, h: Buffer, dy: Buffer, half: Int, cols: Int, logdetGrad: Float,
                                dx: Buffer, dh: Buffer) throws
    // MARK: Views, counters and the training step on the device

    /// The granularity, in floats, of `view` offsets (an OpenCL sub-buffer must start at the
    /// device's base-address alignment; 1 where any offset will do).
    var viewAlignment: Int { get }
    /// A buffer aliasing `count` floats of `buffer` from `offset` (a multiple of
    /// `viewAlignment`): writes through either are seen through both, and the view keeps
    /// `buffer` alive. The parameter arena hands every trainable tensor out as one.
    func view(of buffer: Buffer, offset: Int, count: Int) throws -> Buffer
    /// Launches, library calls, host waits and transfers since the last reset, counted
    /// alike on every backend (`DeviceCounters`).
    var counters: DeviceCounters { get }
    /// `out[outOffset + i] += scale · Σ_j x[xOffset + j]` for `i < outCount`, every `i`
    /// receiving the same sum (the per-image log-determinant of ActNorm and the LU 1×1
    /// convolution, `H·W·Σ log-scales`, added where it arises).
    func addScaledSum(_ x: Buffer, xOffset: Int, count: Int, scale: Float, out: Buffer, outOffset: Int, outCount: Int) throws
    /// `W = P · L · Ũ` of the LU-parametrised 1×1 convolution (`channels × channels`):
    /// L unit lower triangular from `lower`'s strict lower part, `Ũ` = `upper`'s strict
    /// upper part plus `diag(signS ⊙ exp(logS))`.
    func luWeight(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int, weight: Buffer) throws
    /// `W⁻¹ = Ũ⁻¹ · L⁻¹ · Pᵀ` by triangular solves, the same factors as `luWeight`.
    func luInverse(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int, inverse: Buffer) throws
    /// The chain rule from `dw` = ∂loss/∂W to the factors: with `A = Pᵀ·∂W`,
    /// `∂lower = strict_lower(A·Ũᵀ)`, `∂upper = strict_upper(Lᵀ·A)`,
    /// `∂logS = diag(Lᵀ·A) ⊙ signS ⊙ exp(logS) + logdetScale` (zeros elsewhere; every entry written).
    func luBackward(dw: Buffer, p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int,
                    logdetScale: Float, gLower: Buffer, gUpper: Buffer, gLogS: Buffer) throws
    /// The batch into model space in one pass: `pixels` holds the `images·channels·height·width`
    /// bytes of the images in NCHW order, four to a float (little-endian, `PixelBytes`); writes
    /// CNHW `x = ⌊p / 2^(8−nBits)⌋ / 2^nBits − 0.5`, plus U(0, 2^−nBits) noise: CNHW element i
    /// gets element `noise.first + i` of Philox (`noise.seed`, `noise.stream`) as `random` draws it,
    /// where `noise` is what the `StepScalars` buffer `scalars` holds (none: no noise).
    func dequantize(_ pixels: Buffer, images: Int, channels: Int, height: Int, width: Int, nBits: Int,
                    scalars: Buffer, x: Buffer) throws
    /// Decides a training step on the device from `record[0]` (Σ g² over the gradient
    /// arena): `record[3]` = the norm, `record[2]` = 1 when it is finite (the update is
    /// applied) else 0, `record[1]` = the clipping factor for the threshold `scalars[3]`
    /// (≤ 0: none); a norm above `scalars[10]` (when > 0) is skipped too. See `StepRecord`,
    /// `StepScalars`.
    func stepDecide(record: Buffer, scalars: Buffer) throws
    /// One Adam (or Adamax) update of the whole parameter arena from `gradients · record[1]`,
    /// skipped entirely when `record[2]` is 0, then `ema += scalars[11] · (parameters - ema)`
    /// when there is an `ema`. The learning rate and the bias corrections are `scalars[0...2]`
    /// (`StepScalars`; the EMA's rate is in the buffer so that it may change with the step).
    func arenaUpdate(_ parameters: Buffer, gradients: Buffer, m: Buffer, v: Buffer, ema: Buffer?, record: Buffer,
                     scalars: Buffer, count: Int, beta1: Float, beta2: Float, epsilon: Float, adamax: Bool) throws

    // MARK: Recorded steps

    /// Enqueues what `body` enqueues and, where the backend can replay work (CUDA Graphs),
    /// records it, so that `replay` enqueues the same work again with one launch from the
    /// host; nil where it cannot (the work is then enqueued as usual). Inside `body` the host
    /// may neither wait for the device nor copy to it (`RecordingUnsupported` says which
    /// call did); every buffer the recorded work touches keeps its address until the
    /// recording is released, so values that change between replays reach the kernels
    /// through device memory written before each replay (`StepScalars`).
    func record(_ body: () throws -> Void) throws -> RecordedWork?
    /// True when `record` records (a CUDA backend with graphs on); false where it only enqueues.
    var recordsWork: Bool { get }
    /// Enqueues recorded work again.
    func replay(_ work: RecordedWork) throws

    // MARK: Random numbers

    /// Fills `count` floats with N(0, 1) (`normal`) or U(low, high) from Philox4x32-10 with
    /// `seed` and `stream`; element i depends only on (seed, stream, i), identically on
    /// every backend.
    func random(_ buffer: Buffer, offset: Int, count: Int, distribution: RandomDistribution,
                seed: UInt64, stream: UInt64) throws
}

/// Elementwise functions of two arguments.
public enum BinaryOp: Sendable, CaseIterable {
    case add, subtract
    /// `a > 0 ? b : 0`: ReLU's backward pass with `a` the ReLU's output and `b` the gradient.
    case reluBackward
}

/// Distributions of `Backend.random`.
public enum RandomDistribution: Sendable, Equatable {
    /// The standard normal distribution.
    case normal
    /// The uniform distribution on `[low, high)`.
    case uniform(low: Float, high: Float)
}

extension Backend {
    /// `channelAffine` without the ReLU.
    public func channelAffine(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, bias: Buffer, logs: Buffer, factor: Float,
                              reverse: Bool, y: Buffer, yOffset: Int) throws {
        try channelAffine(x, xOffset: xOffset, rows: rows, cols: cols, bias: bias, logs: logs, factor: factor,
                          reverse: reverse, relu: false, y: y, yOffset: yOffset)
    }

    /// `sumOfSquares` by `rowSums` into a scratch float and a copy into `out[outIndex]`
    /// (the default; kernel backends write the slot directly).
    public func sumOfSquares(_ x: Buffer, count: Int, out: Buffer, outIndex: Int) throws {
        let slot = try allocate(1)
        try rowSums(x, xOffset: 0, rows: 1, cols: count, squares: true, out: slot)
        try copy2D(slot, srcOffset: 0, srcStride: 0, out, dstOffset: outIndex, dstStride: 0, rows: 1, cols: 1)
    }

    /// Allocates and uploads `values`.
    public func makeBuffer(_ values: [Float]) throws -> Buffer {
        let b = try allocate(values.count)
        if !values.isEmpty { try upload(values, to: b, offset: 0) }
        return b
    }
    /// Allocates a buffer of `count` zeros.
    public func zeros(_ count: Int) throws -> Buffer {
        let b = try allocate(count)
        if count > 0 { try fill(b, offset: 0, count: count, value: 0) }
        return b
    }
    /// Downloads a whole buffer.
    public func download(_ buffer: Buffer) throws -> [Float] {
        try download(buffer, offset: 0, count: count(of: buffer))
    }
    /// Through an array; backends override it to copy directly.
    public func download(_ buffer: Buffer, offset: Int, count: Int, into destination: UnsafeMutablePointer<Float>) throws {
        guard count > 0 else { return }
        let values = try download(buffer, offset: offset, count: count)
        values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: count) }
    }
    /// Through an array; backends override it to copy directly.
    public func upload(from source: UnsafePointer<Float>, count: Int, to buffer: Buffer, offset: Int) throws {
        guard count > 0 else { return }
        try upload(Array(UnsafeBufferPointer(start: source, count: count)), to: buffer, offset: offset)
    }
}
