import COpenBLAS
import Foundation
import GlowCore

/// Host memory owned by the CPU backend; returned to its pool when released.
public final class CPUBuffer {
    /// The floats.
    public let pointer: UnsafeMutablePointer<Float>
    /// How many.
    public let count: Int
    /// The pool the allocation goes back to (nil for a view).
    let pool: BufferPool<UnsafeMutablePointer<Float>>?
    /// The buffer a view aliases, kept alive by it.
    let parent: CPUBuffer?
    init(count: Int, pointer: UnsafeMutablePointer<Float>, pool: BufferPool<UnsafeMutablePointer<Float>>?, parent: CPUBuffer? = nil) {
        self.count = count; self.pointer = pointer; self.pool = pool; self.parent = parent
    }
    deinit { pool?.give(pointer, count: count) }
}

/// The CPU backend: matrix and convolution work through OpenBLAS `cblas_sgemm`, the rest
/// as plain loops the compiler vectorises, every operation split over `threads` threads.
///
/// The backend does its own threading and runs OpenBLAS on one thread per call (it sets
/// OpenBLAS's thread count to 1): a GEMM is cut into parts (`CPUPartition.gemm`), each one
/// single-threaded `cblas_sgemm`, so no call waits for OpenBLAS's threads to meet. Every cut
/// depends on the operation's sizes alone, and every sum is added in an order fixed by its
/// length, so the results are bitwise the same for any number of threads (a run resumed
/// with another `--threads` continues exactly).
public final class CPUBackend: Backend {
    public typealias Buffer = CPUBuffer

    /// Released buffers, reused by size so a training step in its steady state allocates nothing.
    let pool = BufferPool<UnsafeMutablePointer<Float>>(release: { free($0) })

    /// The threads the operations are split over, and how the operations are cut.
    let workers: CPUWorkers
    /// How operations are cut (`CPUPartition.standard`).
    var partition: CPUPartition { workers.partition }

    /// Creates the backend on `threads` threads (nil: `CPUThreads.defaultCount()`, which is
    /// `--threads` when given, else the cores this process may use). Sets OpenBLAS's own
    /// thread count to 1 for the whole process: the backend splits its GEMMs itself.
    public convenience init(threads: Int? = nil) {
        self.init(threads: threads, partition: .standard)
    }

    /// The backend with its own cut (tests use a fine one, so that tiny operations split too).
    init(threads: Int?, partition: CPUPartition) {
        openblas_set_num_threads(1)
        workers = CPUWorkers(threads ?? CPUThreads.defaultCount(), partition: partition)
    }

    /// OpenBLAS's build string, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64`.
    public var blasConfig: String { String(cString: openblas_get_config()) }
    /// The BLAS kernel family in use, e.g. `SkylakeX`.
    public var blasCore: String { String(cString: openblas_get_corename()) }
    /// The threads the backend splits its operations over (OpenBLAS itself runs on one per call).
    public var threads: Int { workers.count }

    public var name: String { "cpu (\(blasConfig.split(separator: " ").prefix(2).joined(separator: " ")), \(blasCore), \(threads) threads)" }

    public func allocate(_ count: Int) throws -> CPUBuffer {
        if let p = pool.take(count: count) { return CPUBuffer(count: count, pointer: p, pool: pool) }
        // malloc, not UnsafeMutablePointer.allocate (which aborts the process when memory runs
        // out), so a failed allocation is an error like the OpenCL backend's.
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard count >= 0, !overflow, let raw = malloc(bytes) else {
            throw GlowError("cpu: cannot allocate \(count) floats (\(overflow || count < 0 ? "past the largest size" : MemoryLimit.format(bytes))): out of memory")
        }
        return CPUBuffer(count: count, pointer: raw.bindMemory(to: Float.self, capacity: max(count, 1)), pool: pool)
    }
    public func count(of buffer: CPUBuffer) -> Int { buffer.count }

    /// Host memory: any offset will do; 16 floats keeps views on 64-byte cache lines.
    public var viewAlignment: Int { 16 }

    public func view(of buffer: CPUBuffer, offset: Int, count: Int) throws -> CPUBuffer {
        try check(offset >= 0 && count >= 0 && offset + count <= buffer.count,
                  "view of \(count) floats at \(offset) past a buffer of \(buffer.count)")
        return CPUBuffer(count: count, pointer: buffer.pointer + offset, pool: nil, parent: buffer)
    }

    /// Counted as on a device (`DeviceCounters`): a download is where the host would wait.
    public let counters = DeviceCounters()

    /// Time per kind of operation, when enabled (`glow-gpu bench --profile`).
    public let profile = CPUProfile()

    public func upload(_ values: [Float], to buffer: CPUBuffer, offset: Int) throws {
        counters.uploads += 1
        try check(offset + values.count <= buffer.count, "upload of \(values.count) at \(offset) past buffer of \(buffer.count)")
        values.withUnsafeBufferPointer { (buffer.pointer + offset).update(from: $0.baseAddress!, count: values.count) }
    }

    public func download(_ buffer: CPUBuffer, offset: Int, count: Int) throws -> [Float] {
        counters.downloads += 1; counters.hostWaits += 1
        try check(offset + count <= buffer.count, "download of \(count) at \(offset) past buffer of \(buffer.count)")
        return Array(UnsafeBufferPointer(start: buffer.pointer + offset, count: count))
    }

    public func download(_ buffer: CPUBuffer, offset: Int, count: Int, into destination: UnsafeMutablePointer<Float>) throws {
        counters.downloads += 1; counters.hostWaits += 1
        try check(offset + count <= buffer.count, "download of \(count) at \(offset) past buffer of \(buffer.count)")
        destination.update(from: buffer.pointer + offset, count: count)
    }

    public func upload(from source: UnsafePointer<Float>, count: Int, to buffer: CPUBuffer, offset: Int) throws {
        counters.uploads += 1
        try check(offset + count <= buffer.count, "upload of \(count) at \(offset) past buffer of \(buffer.count)")
        (buffer.pointer + offset).update(from: source, count: count)
    }

    public func fill(_ buffer: CPUBuffer, offset: Int, count: Int, value: Float) throws {
        let p = buffer.pointer + offset
        profile.time(.elementwise) {
            workers.forChunks(count) { r in (p + r.lowerBound).update(repeating: value, count: r.count) }
        }
    }

    public func copy2D(_ src: CPUBuffer, srcOffset: Int, srcStride: Int, _ dst: CPUBuffer, dstOffset: Int,
                       dstStride: Int, rows: Int, cols: Int) throws {
        let s = src.pointer + srcOffset, d = dst.pointer + dstOffset
        profile.time(.elementwise) {
            if rows == 1 {
                workers.forChunks(cols) { r in (d + r.lowerBound).update(from: s + r.lowerBound, count: r.count) }
                return
            }
            forRows(rows, cols) { r, js in
                (d + r * dstStride + js.lowerBound).update(from: s + r * srcStride + js.lowerBound, count: js.count)
            }
        }
    }

    public func copyStrided(_ src: CPUBuffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int,
                            _ dst: CPUBuffer, dstOffset: Int, dstRowStride: Int, dstColStride: Int, rows: Int, cols: Int) throws {
        profile.time(.elementwise) {
            forRows(rows, cols) { r, js in
                let s = src.pointer + srcOffset + r * srcRowStride, d = dst.pointer + dstOffset + r * dstRowStride
                for j in js { d[j * dstColStride] = s[j * srcColStride] }
            }
        }
    }

    public func synchronize() throws { counters.hostWaits += 1 }

    // MARK: GEMM

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: CPUBuffer, aOffset: Int, lda: Int, b: CPUBuffer, bOffset: Int, ldb: Int,
                     beta: Float, c: CPUBuffer, cOffset: Int, ldc: Int) throws {
        if m == 0 || n == 0 { return }
        try check(cOffset + (m - 1) * ldc + n <= c.count, "gemm C block \(m)×\(n) (ldc \(ldc), offset \(cOffset)) past buffer of \(c.count)")
        try check(aOffset + ((transA ? k : m) - 1) * lda + (transA ? m : k) <= a.count, "gemm A past buffer of \(a.count)")
        try check(bOffset + ((transB ? n : k) - 1) * ldb + (transB ? k : n) <= b.count, "gemm B past buffer of \(b.count)")
        let cp = c.pointer + cOffset
        if k == 0 {   // C = beta · C
            profile.time(.elementwise) {
                forRows(m, n) { r, js in
                    let row = cp + r * ldc
                    if beta == 0 { (row + js.lowerBound).update(repeating: 0, count: js.count) } else { for j in js { row[j] *= beta } }
                }
            }
            return
        }
        counters.libraryCalls += 1
        let plan = partition.gemm(m: m, n: n, k: k)
        let scratch = plan.split == .depth ? try allocate(plan.parts * m * n) : nil   // the parts' products
        profile.timeGEMM("\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)×\(n)×\(k) \(plan.split)×\(plan.parts)") {
            parallelGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.pointer + aOffset, lda: lda,
                         b: b.pointer + bOffset, ldb: ldb, beta: beta, c: cp, ldc: ldc, plan: plan, scratch: scratch?.pointer)
        }
    }

    /// One single-threaded `cblas_sgemm` (OpenBLAS with beta = 0 stores 0 without reading C:
    /// the NaN-poisoned parity test checks it).
    @inline(__always)
    private func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                       _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                       _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The GEMM cut as `CPUPartition.gemm` says, the parts over the threads. A split K writes
    /// each range's product to `scratch` (`parts · m · n` floats) and adds them in order.
    private func parallelGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                              plan: (split: CPUPartition.GemmSplit, parts: Int), scratch: UnsafeMutablePointer<Float>?) {
        let (split, parts) = plan
        if parts > 1 && profile.enabled { profile.splitGemms += 1; profile.gemmParts += parts }
        switch split {
        case .whole:
            sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        case .columns:
            workers.run(parts) { i in
                let js = CPUPartition.bounds(i, of: parts, total: n, align: 16)
                if js.isEmpty { return }
                let j0 = js.lowerBound
                sgemm(transA, transB, m, js.count, k, alpha, a, lda, transB ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc)
            }
        case .rows:
            workers.run(parts) { i in
                let rs = CPUPartition.bounds(i, of: parts, total: m, align: 16)
                if rs.isEmpty { return }
                let i0 = rs.lowerBound
                sgemm(transA, transB, rs.count, n, k, alpha, transA ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc)
            }
        case .depth:
            guard let scratch else { preconditionFailure("a GEMM with split K needs scratch") }
            let mn = m * n
            workers.run(parts) { i in
                let ks = CPUPartition.bounds(i, of: parts, total: k, align: 16)
                let out = scratch + i * mn
                if ks.isEmpty { out.update(repeating: 0, count: mn); return }
                let k0 = ks.lowerBound
                sgemm(transA, transB, m, n, ks.count, 1, transA ? a + k0 * lda : a + k0, lda,
                      transB ? b + k0 : b + k0 * ldb, ldb, 0, out, n)
            }
            // C = alpha · (((P0 + P1) + P2) + …) + beta · C: the ranges added in order (into P0).
            forRows(m, n) { r, js in
                let row = c + r * ldc, acc = scratch + r * n
                for p in 1..<parts {
                    let part = scratch + p * mn + r * n
                    for j in js { acc[j] += part[j] }
                }
                if beta == 0 { for j in js { row[j] = alpha * acc[j] } } else { for j in js { row[j] = alpha * acc[j] + beta * row[j] } }
            }
        }
    }

    // MARK: 3×3 convolution lowering

    public func im2col3x3(_ x: CPUBuffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int,
                          columns: CPUBuffer) throws {
        let hw = height * width, cols = images * hw
        let src = x.pointer + xOffset, dst = columns.pointer
        profile.time(.lowering) {
            // Thread t: every row (9·C of them) for its range of images.
            workers.run(workers.count, work: channels * 9 * cols) { t in
              for row in 0..<(channels * 9) {
                let c = row / 9, ky = (row % 9) / 3 - 1, kx = row % 3 - 1
                let out = dst + row * cols
                for n in CPUPartition.bounds(t, of: workers.count, total: images, align: 1) {
                    let plane = src + (c * images + n) * hw
                    let o = out + n * hw
                    for h in 0..<height {
                        let sh = h + ky
                        let orow = o + h * width
                        if sh < 0 || sh >= height { orow.update(repeating: 0, count: width); continue }
                        let irow = plane + sh * width
                        let w0 = max(0, -kx), w1 = min(width, width - kx)
                        for w in 0..<w0 { orow[w] = 0 }
                        for w in w0..<w1 { orow[w] = irow[w + kx] }
                        for w in max(w1, w0)..<width { orow[w] = 0 }
                    }
                }
              }
            }
        }
    }

    public func col2im3x3(_ columns: CPUBuffer, channels: Int, images: Int, height: Int, width: Int,
                          x: CPUBuffer, xOffset: Int) throws {
        let hw = height * width, cols = images * hw
        let src = columns.pointer, dst = x.pointer + xOffset
        profile.time(.lowering) {
            // Each output plane (channel, image) adds its 9 taps in tap order, so the sums do
            // not depend on the cut; thread t takes the planes of its range of images.
            workers.run(workers.count, work: 9 * channels * cols) { t in
                for n in CPUPartition.bounds(t, of: workers.count, total: images, align: 1) {
                  for c in 0..<channels {
                    let plane = c * images + n
                    let out = dst + plane * hw
                    for t in 0..<9 {
                        let ky = t / 3 - 1, kx = t % 3 - 1
                        let o = src + (c * 9 + t) * cols + n * hw
                        for h in 0..<height {
                            let sh = h + ky
                            if sh < 0 || sh >= height { continue }
                            let orow = o + h * width, irow = out + sh * width
                            let w0 = max(0, -kx), w1 = min(width, width - kx)
                            if w0 < w1 { for w in w0..<w1 { irow[w + kx] += orow[w] } }
                        }
                    }
                  }
                }
            }
        }
    }

    // MARK: Elementwise

    public func channelAffine(_ x: CPUBuffer, xOffset: Int, rows: Int, cols: Int, bias: CPUBuffer, logs: CPUBuffer,
                              factor: Float, reverse: Bool, relu: Bool, y: CPUBuffer, yOffset: Int) throws {
        let xp = x.pointer + xOffset, yp = y.pointer + yOffset
        profile.time(.elementwise) {
            forRows(rows, cols) { r, js in
                let b = bias.pointer[r], l = logs.pointer[r]
                let xi = xp + r * cols, yo = yp + r * cols
                if reverse {
                    let s = expf(-factor * l)
                    for j in js { yo[j] = xi[j] * s - b }
                } else if relu {
                    let s = expf(factor * l)
                    for j in js { yo[j] = max((xi[j] + b) * s, 0) }
                } else {
                    let s = expf(factor * l)
                    for j in js { yo[j] = (xi[j] + b) * s }
                }
            }
        }
    }

    public func binary(_ op: BinaryOp, _ a: CPUBuffer, aOffset: Int, _ b: CPUBuffer, bOffset: Int,
                       y: CPUBuffer, yOffset: Int, count: Int) throws {
        let ap = a.pointer + aOffset, bp = b.pointer + bOffset, yp = y.pointer + yOffset
        profile.time(.elementwise) {
            workers.forChunks(count) { r in
                switch op {
                case .add: for i in r { yp[i] = ap[i] + bp[i] }
                case .subtract: for i in r { yp[i] = ap[i] - bp[i] }
                case .reluBackward: for i in r { yp[i] = ap[i] > 0 ? bp[i] : 0 }
                }
            }
        }
    }

    public func squeeze(_ x: CPUBuffer, y: CPUBuffer, channels: Int, images: Int, height: Int, width: Int,
                        inverse: Bool) throws {
        let h2 = height / 2, w2 = width / 2
        let xp = x.pointer, yp = y.pointer
        profile.time(.elementwise) {
            // A permutation, the same for any cut: thread t takes its range of images.
            workers.run(workers.count, work: channels * images * height * width) { t in
                for n in CPUPartition.bounds(t, of: workers.count, total: images, align: 1) {
                  for c in 0..<channels {
                    for h in 0..<height {
                        for w in 0..<width {
                            let big = ((c * images + n) * height + h) * width + w
                            let small = (((c * 4 + (h & 1) * 2 + (w & 1)) * images + n) * h2 + h / 2) * w2 + w / 2
                            if inverse { yp[big] = xp[small] } else { yp[small] = xp[big] }
                        }
                    }
                  }
                }
            }
        }
    }

    public func affineCouplingBackward(_ x: CPUBuffer, h: CPUBuffer, dy: CPUBuffer, half: Int, cols: Int, logdetGrad: Float,
                                       dx: CPUBuffer, dh: CPUBuffer) throws {
        profile.time(.elementwise) {
            forRows(half, cols) { i, js in
                let x2 = x.pointer + (half + i) * cols, d2 = dy.pointer + (half + i) * cols, o2 = dx.pointer + (half + i) * cols
                let shift = h.pointer + (2 * i) * cols, raw = h.pointer + (2 * i + 1) * cols
                let dshift = dh.pointer + (2 * i) * cols, draw = dh.pointer + (2 * i + 1) * cols
                for j in js {
                    let s = 1 / (1 + expf(-(raw[j] + 2)))
                    let y2 = (x2[j] + shift[j]) * s
                    o2[j] = d2[j] * s
                    dshift[j] = d2[j] * s
                    draw[j] = (1 - s) * (d2[j] * y2 + logdetGrad)
                }
            }
        }
    }

    public func random(_ buffer: CPUBuffer, offset: Int, count: Int, distribution: RandomDistribution,
                       seed: UInt64, stream: UInt64) throws {
        profile.time(.elementwise) {
            Philox.fill(buffer.pointer + offset, count: count, distribution: distribution, seed: seed, stream: stream)
        }
    }

    // MARK: Reductions

    public func rowSums(_ x: CPUBuffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: CPUBuffer) throws {
        let xp = x.pointer + xOffset, o = out.pointer
        profile.time(.reductions) {
            rowReduce(rows, cols) { r, js in
                let p = xp + r * cols + js.lowerBound
                return (squares ? CPUSum.dot(p, p, js.count) : CPUSum.sum(p, js.count), 0)
            } finish: { r, s, _ in o[r] = s }
        }
    }

    public func rowDots(_ a: CPUBuffer, _ b: CPUBuffer, rows: Int, cols: Int, out: CPUBuffer) throws {
        let o = out.pointer
        profile.time(.reductions) {
            rowReduce(rows, cols) { r, js in
                (CPUSum.dot(a.pointer + r * cols + js.lowerBound, b.pointer + r * cols + js.lowerBound, js.count), 0)
            } finish: { r, s, _ in o[r] = s }
        }
    }

    public func sumOfSquares(_ x: CPUBuffer, count: Int, out: CPUBuffer, outIndex: Int) throws {
        try check(count <= x.count && outIndex < out.count, "sumOfSquares of \(count) floats into slot \(outIndex) past a buffer")
        let xp = x.pointer, o = out.pointer + outIndex
        profile.time(.reductions) {
            rowReduce(1, count) { _, js in (CPUSum.dot(xp + js.lowerBound, xp + js.lowerBound, js.count), 0) } finish: { _, s, _ in o[0] = s }
        }
    }

    public func sampleSums(_ x: CPUBuffer, xOffset: Int, rows: Int, images: Int, spatial: Int,
                           out: CPUBuffer, accumulate: Bool) throws {
        let xp = x.pointer + xOffset
        profile.time(.reductions) {
            // One task per image: its rows' sums added in row order.
            workers.run(images, work: rows * spatial * images) { n in
                var s: Float = 0
                for r in 0..<rows { s += CPUSum.sum(xp + (r * images + n) * spatial, spatial) }
                out.pointer[n] = accumulate ? out.pointer[n] + s : s
            }
        }
    }

    /// ActNorm's and Conv2dZeros' backward in one pass over each row: the ReLU mask, `dx`, and
    /// the two sums, each over the row's column blocks added in order (`rowReduce`).
    public func channelAffineBackward(dy: CPUBuffer, y: CPUBuffer, logs: CPUBuffer, factor: Float, rows: Int, cols: Int,
                                      logsConstant: Float, relu: Bool, dx: CPUBuffer, gradBias: CPUBuffer, gradLogs: CPUBuffer) throws {
        try check(dy.count >= rows * cols && y.count >= rows * cols && dx.count >= rows * cols && logs.count >= rows
                  && gradBias.count >= rows && gradLogs.count >= rows, "channelAffineBackward of \(rows)×\(cols) past a buffer")
        let dyp = dy.pointer, yp = y.pointer, dxp = dx.pointer
        let scaleLogs = factor != 1 || logsConstant != 0
        profile.time(.reductions) {
            rowReduce(rows, cols) { r, js in
                let s = expf(factor * logs.pointer[r])
                return CPUSum.affineBackward(dy: dyp + r * cols + js.lowerBound, y: yp + r * cols + js.lowerBound,
                                             dx: dxp + r * cols + js.lowerBound, count: js.count, scale: s, relu: relu)
            } finish: { r, sumDx, sumDot in
                gradBias.pointer[r] = sumDx
                gradLogs.pointer[r] = scaleLogs ? factor * sumDot + logsConstant : sumDot
            }
        }
    }

    // MARK: Training

    // MARK: The training step (StepMath on the buffers' memory)

    public func addScaledSum(_ x: CPUBuffer, xOffset: Int, count: Int, scale: Float, out: CPUBuffer, outOffset: Int,
                             outCount: Int) throws {
        try check(xOffset + count <= x.count && outOffset + outCount <= out.count, "addScaledSum past a buffer")
        profile.time(.reductions) {
            StepMath.addScaledSum(x.pointer + xOffset, count: count, scale: scale, out: out.pointer + outOffset, outCount: outCount)
        }
    }

    public func luWeight(p: CPUBuffer, lower: CPUBuffer, upper: CPUBuffer, logS: CPUBuffer, signS: CPUBuffer, channels: Int,
                         weight: CPUBuffer) throws {
        profile.time(.update) {
            StepMath.luWeight(p: p.pointer, lower: lower.pointer, upper: upper.pointer, logS: logS.pointer, signS: signS.pointer,
                              channels: channels, weight: weight.pointer)
        }
    }

    public func luInverse(p: CPUBuffer, lower: CPUBuffer, upper: CPUBuffer, logS: CPUBuffer, signS: CPUBuffer, channels: Int,
                          inverse: CPUBuffer) throws {
        profile.time(.update) {
            StepMath.luInverse(p: p.pointer, lower: lower.pointer, upper: upper.pointer, logS: logS.pointer, signS: signS.pointer,
                               channels: channels, inverse: inverse.pointer)
        }
    }

    public func luBackward(dw: CPUBuffer, p: CPUBuffer, lower: CPUBuffer, upper: CPUBuffer, logS: CPUBuffer, signS: CPUBuffer,
                           channels: Int, logdetScale: Float, gLower: CPUBuffer, gUpper: CPUBuffer, gLogS: CPUBuffer) throws {
        profile.time(.update) {
            StepMath.luBackward(dw: dw.pointer, p: p.pointer, lower: lower.pointer, upper: upper.pointer, logS: logS.pointer,
                                signS: signS.pointer, channels: channels, logdetScale: logdetScale, gLower: gLower.pointer,
                                gUpper: gUpper.pointer, gLogS: gLogS.pointer)
        }
    }

    public func dequantize(_ pixels: CPUBuffer, images: Int, channels: Int, height: Int, width: Int, nBits: Int,
                           scalars: CPUBuffer, x: CPUBuffer) throws {
        let count = images * channels * height * width
        try check(pixels.count * 4 >= count && x.count >= count && scalars.count >= StepScalars.count,
                  "dequantize of \(count) values past a buffer")
        profile.time(.elementwise) {
            StepMath.dequantize(UnsafeRawPointer(pixels.pointer).assumingMemoryBound(to: UInt8.self), images: images,
                                channels: channels, spatial: height * width, nBits: nBits,
                                noise: StepScalars(scalars.pointer).noise, x: x.pointer)
        }
    }

    public func stepDecide(record: CPUBuffer, scalars: CPUBuffer) throws {
        profile.time(.update) { StepMath.stepDecide(record: record.pointer, scalars: scalars.pointer) }
    }

    public func arenaUpdate(_ parameters: CPUBuffer, gradients: CPUBuffer, m: CPUBuffer, v: CPUBuffer, ema: CPUBuffer?,
                            record: CPUBuffer, scalars: CPUBuffer, count: Int, beta1: Float, beta2: Float, epsilon: Float,
                            adamax: Bool) throws {
        try check([parameters, gradients, m, v].allSatisfy { $0.count >= count } && (ema?.count ?? count) >= count,
                  "arenaUpdate of \(count) floats past a buffer")
        profile.time(.update) {
            workers.forChunks(count) { r in   // elementwise: the same result for any split
                StepMath.arenaUpdate(parameters.pointer, gradients: gradients.pointer, m: m.pointer, v: v.pointer,
                                     ema: ema?.pointer, record: record.pointer, scalars: scalars.pointer, range: r,
                                     beta1: beta1, beta2: beta2, epsilon: epsilon, adamax: adamax)
            }
        }
    }

    func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
        if !ok { throw GlowError("cpu backend: \(what())") }
    }

    // MARK: Splitting

    /// `CPUWorkers.forRows`.
    func forRows(_ rows: Int, _ cols: Int, _ body: (Int, Range<Int>) -> Void) {
        workers.forRows(rows, cols, body)
    }

    /// Two sums per row of a `rows × cols` matrix: `block(row, columns)` returns the pair for
    /// one of the row's column blocks (`CPUPartition.sumBlocks`, from its length alone), and
    /// `finish(row, first, second)` receives each row's totals, its blocks added in order. So
    /// the sums do not depend on the thread count. Thread t takes the t-th run of blocks of
    /// every row (the same columns as its GEMM parts), or of rows when rows are one block.
    private func rowReduce(_ rows: Int, _ cols: Int, _ block: (Int, Range<Int>) -> (Float, Float),
                           finish: (Int, Float, Float) -> Void) {
        if rows <= 0 { return }
        let blocks = partition.sumBlocks(cols), tasks = rows * blocks
        let partials = UnsafeMutablePointer<(Float, Float)>.allocate(capacity: tasks)
        defer { partials.deallocate() }
        // Task b·rows + r is block b of row r.
        let perThread = (tasks + workers.count - 1) / workers.count
        workers.run((tasks + perThread - 1) / perThread, work: rows * cols) { part in
            for t in (part * perThread)..<min(tasks, (part + 1) * perThread) {
                let b = t / rows, r = t % rows
                partials[r * blocks + b] = block(r, CPUPartition.bounds(b, of: blocks, total: cols, align: 16))
            }
        }
        for r in 0..<rows {
            var (s, d) = partials[r * blocks]
            for b in 1..<blocks { s += partials[r * blocks + b].0; d += partials[r * blocks + b].1 }
            finish(r, s, d)
        }
    }
}

extension CPUSum {
    /// ActNorm's backward on one block: `d = relu ? (y > 0 ? dy : 0) : dy`, `dx = d · scale`
    /// (dx may be dy), returning `(Σ dx, Σ d · y)` in the order of `sum`.
    @inline(__always)
    static func affineBackward(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                               count n: Int, scale s: Float, relu: Bool) -> (Float, Float) {
        let sv = SIMD8<Float>(repeating: s), zero = SIMD8<Float>()
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), d0 = SIMD8<Float>(), d1 = SIMD8<Float>()
        var j = 0
        while j + 16 <= n {
            var g0 = load(dy + j), g1 = load(dy + j + 8)
            let y0 = load(y + j), y1 = load(y + j + 8)
            if relu { g0 = zero.replacing(with: g0, where: y0 .> zero); g1 = zero.replacing(with: g1, where: y1 .> zero) }
            let o0 = g0 * sv, o1 = g1 * sv
            UnsafeMutableRawPointer(dx + j).storeBytes(of: o0, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dx + j + 8).storeBytes(of: o1, as: SIMD8<Float>.self)
            a0 += o0; a1 += o1
            d0 += g0 * y0; d1 += g1 * y1
            j += 16
        }
        var sumDx = (a0 + a1).sum(), sumDot = (d0 + d1).sum()
        while j < n {
            let g = relu && !(y[j] > 0) ? 0 : dy[j]
            let o = g * s
            dx[j] = o
            sumDx += o; sumDot += g * y[j]
            j += 1
        }
        return (sumDx, sumDot)
    }
}
