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
/// as plain loops the compiler vectorises, split over the cores where the work is large.
public final class CPUBackend: Backend {
    public typealias Buffer = CPUBuffer

    /// Released buffers, reused by size so a training step in its steady state allocates nothing.
    let pool = BufferPool<UnsafeMutablePointer<Float>>(release: { free($0) })

    /// Threads of the elementwise loops: `threads` when given (so that several processes
    /// on one machine, e.g. MPI ranks, divide the cores instead of oversubscribing them).
    let workers: Int

    /// Creates the backend; `threads` sets OpenBLAS's thread count and the elementwise
    /// loops' when given (else all cores).
    public init(threads: Int? = nil) {
        if let threads { openblas_set_num_threads(Int32(threads)) }
        workers = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// OpenBLAS's build string, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64`.
    public var blasConfig: String { String(cString: openblas_get_config()) }
    /// The BLAS kernel family in use, e.g. `SkylakeX`.
    public var blasCore: String { String(cString: openblas_get_corename()) }
    /// OpenBLAS threads.
    public var threads: Int { Int(openblas_get_num_threads()) }

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
        (buffer.pointer + offset).update(repeating: value, count: count)
    }

    public func copy2D(_ src: CPUBuffer, srcOffset: Int, srcStride: Int, _ dst: CPUBuffer, dstOffset: Int,
                       dstStride: Int, rows: Int, cols: Int) throws {
        for r in 0..<rows {
            (dst.pointer + dstOffset + r * dstStride).update(from: src.pointer + srcOffset + r * srcStride, count: cols)
        }
    }

    public func copyStrided(_ src: CPUBuffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int,
                            _ dst: CPUBuffer, dstOffset: Int, dstRowStride: Int, dstColStride: Int, rows: Int, cols: Int) throws {
        for r in 0..<rows {
            let s = src.pointer + srcOffset + r * srcRowStride, d = dst.pointer + dstOffset + r * dstRowStride
            for j in 0..<cols { d[j * dstColStride] = s[j * srcColStride] }
        }
    }

    public func synchronize() throws { counters.hostWaits += 1 }

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: CPUBuffer, aOffset: Int, lda: Int, b: CPUBuffer, bOffset: Int, ldb: Int,
                     beta: Float, c: CPUBuffer, cOffset: Int, ldc: Int) throws {
        if m == 0 || n == 0 { return }
        try check(cOffset + (m - 1) * ldc + n <= c.count, "gemm C block \(m)×\(n) (ldc \(ldc), offset \(cOffset)) past buffer of \(c.count)")
        try check(aOffset + ((transA ? k : m) - 1) * lda + (transA ? m : k) <= a.count, "gemm A past buffer of \(a.count)")
        try check(bOffset + ((transB ? n : k) - 1) * ldb + (transB ? k : n) <= b.count, "gemm B past buffer of \(b.count)")
        if k == 0 {   // C = beta · C
            for r in 0..<m {
                let row = c.pointer + cOffset + r * ldc
                if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
            }
            return
        }
        // OpenBLAS with beta = 0 stores 0 without reading C (the NaN-poisoned parity test checks it).
        counters.libraryCalls += 1
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a.pointer + aOffset, Int32(lda),
                    b.pointer + bOffset, Int32(ldb), beta, c.pointer + cOffset, Int32(ldc))
    }

    public func im2col3x3(_ x: CPUBuffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int,
                          columns: CPUBuffer) throws {
        let hw = height * width, cols = images * hw
        let src = x.pointer + xOffset, dst = columns.pointer
        parallelFor(channels * 9) { row in
            let c = row / 9, ky = (row % 9) / 3 - 1, kx = row % 3 - 1
            let out = dst + row * cols
            for n in 0..<images {
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

    public func col2im3x3(_ columns: CPUBuffer, channels: Int, images: Int, height: Int, width: Int,
                          x: CPUBuffer, xOffset: Int) throws {
        let hw = height * width, cols = images * hw
        let src = columns.pointer, dst = x.pointer + xOffset
        parallelFor(channels) { c in
            for t in 0..<9 {
                let ky = t / 3 - 1, kx = t % 3 - 1
                let col = src + (c * 9 + t) * cols
                for n in 0..<images {
                    let plane = dst + (c * images + n) * hw
                    let o = col + n * hw
                    for h in 0..<height {
                        let sh = h + ky
                        if sh < 0 || sh >= height { continue }
                        let orow = o + h * width, irow = plane + sh * width
                        let w0 = max(0, -kx), w1 = min(width, width - kx)
                        if w0 < w1 { for w in w0..<w1 { irow[w + kx] += orow[w] } }
                    }
                }
            }
        }
    }

    public func channelAffine(_ x: CPUBuffer, xOffset: Int, rows: Int, cols: Int, bias: CPUBuffer, logs: CPUBuffer,
                              factor: Float, reverse: Bool, relu: Bool, y: CPUBuffer, yOffset: Int) throws {
        let xp = x.pointer + xOffset, yp = y.pointer + yOffset
        parallelFor(rows, grain: max(1, 65536 / max(cols, 1))) { r in
            let b = bias.pointer[r], l = logs.pointer[r]
            let xi = xp + r * cols, yo = yp + r * cols
            if reverse {
                let s = expf(-factor * l)
                for j in 0..<cols { yo[j] = xi[j] * s - b }
            } else if relu {
                let s = expf(factor * l)
                for j in 0..<cols { yo[j] = max((xi[j] + b) * s, 0) }
            } else {
                let s = expf(factor * l)
                for j in 0..<cols { yo[j] = (xi[j] + b) * s }
            }
        }
    }

    public func unary(_ op: UnaryOp, _ x: CPUBuffer, xOffset: Int, y: CPUBuffer, yOffset: Int, count: Int) throws {
        let xp = x.pointer + xOffset, yp = y.pointer + yOffset
        switch op {
        case .exp: for i in 0..<count { yp[i] = expf(xp[i]) }
        case .log: for i in 0..<count { yp[i] = logf(xp[i]) }
        case .sigmoid: for i in 0..<count { yp[i] = 1 / (1 + expf(-xp[i])) }
        case .relu: for i in 0..<count { yp[i] = max(xp[i], 0) }
        case .negate: for i in 0..<count { yp[i] = -xp[i] }
        case .square: for i in 0..<count { yp[i] = xp[i] * xp[i] }
        }
    }

    public func binary(_ op: BinaryOp, _ a: CPUBuffer, aOffset: Int, _ b: CPUBuffer, bOffset: Int,
                       y: CPUBuffer, yOffset: Int, count: Int) throws {
        let ap = a.pointer + aOffset, bp = b.pointer + bOffset, yp = y.pointer + yOffset
        switch op {
        case .add: for i in 0..<count { yp[i] = ap[i] + bp[i] }
        case .subtract: for i in 0..<count { yp[i] = ap[i] - bp[i] }
        case .multiply: for i in 0..<count { yp[i] = ap[i] * bp[i] }
        case .divide: for i in 0..<count { yp[i] = ap[i] / bp[i] }
        case .reluBackward: for i in 0..<count { yp[i] = ap[i] > 0 ? bp[i] : 0 }
        }
    }

    public func rowSums(_ x: CPUBuffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: CPUBuffer) throws {
        // BLAS dot products: vectorised, where a plain Swift sum loop is not (it may not
        // reorder floating-point additions).
        let ones = try onesVector(cols)
        for r in 0..<rows {
            let p = x.pointer + xOffset + r * cols
            out.pointer[r] = squares ? cblas_sdot(Int32(cols), p, 1, p, 1) : cblas_sdot(Int32(cols), p, 1, ones, 1)
        }
    }

    public func rowDots(_ a: CPUBuffer, _ b: CPUBuffer, rows: Int, cols: Int, out: CPUBuffer) throws {
        for r in 0..<rows {
            out.pointer[r] = cblas_sdot(Int32(cols), a.pointer + r * cols, 1, b.pointer + r * cols, 1)
        }
    }

    private var ones = UnsafeMutablePointer<Float>.allocate(capacity: 1), onesCount = 0
    private func onesVector(_ n: Int) throws -> UnsafePointer<Float> {
        if onesCount < n {
            ones.deallocate()
            ones = .allocate(capacity: n)
            ones.initialize(repeating: 1, count: n)
            onesCount = n
        }
        return UnsafePointer(ones)
    }

    public func sampleSums(_ x: CPUBuffer, xOffset: Int, rows: Int, images: Int, spatial: Int,
                           out: CPUBuffer, accumulate: Bool) throws {
        let xp = x.pointer + xOffset
        for n in 0..<images {
            var s: Float = 0
            for r in 0..<rows {
                let p = xp + (r * images + n) * spatial
                for j in 0..<spatial { s += p[j] }
            }
            out.pointer[n] = accumulate ? out.pointer[n] + s : s
        }
    }

    public func squeeze(_ x: CPUBuffer, y: CPUBuffer, channels: Int, images: Int, height: Int, width: Int,
                        inverse: Bool) throws {
        let h2 = height / 2, w2 = width / 2
        for c in 0..<channels {
            for n in 0..<images {
                for h in 0..<height {
                    for w in 0..<width {
                        let big = ((c * images + n) * height + h) * width + w
                        let small = (((c * 4 + (h & 1) * 2 + (w & 1)) * images + n) * h2 + h / 2) * w2 + w / 2
                        if inverse { y.pointer[big] = x.pointer[small] } else { y.pointer[small] = x.pointer[big] }
                    }
                }
            }
        }
    }

    public func affineCoupling(_ x: CPUBuffer, h: CPUBuffer, half: Int, cols: Int, reverse: Bool,
                               y: CPUBuffer, logScale: CPUBuffer) throws {
        y.pointer.update(from: x.pointer, count: half * cols)
        parallelFor(half, grain: max(1, 32768 / max(cols, 1))) { i in
            let x2 = x.pointer + (half + i) * cols, y2 = y.pointer + (half + i) * cols
            let shift = h.pointer + (2 * i) * cols, raw = h.pointer + (2 * i + 1) * cols
            let ls = logScale.pointer + i * cols
            for j in 0..<cols {
                let s = 1 / (1 + expf(-(raw[j] + 2)))
                y2[j] = reverse ? x2[j] / s - shift[j] : (x2[j] + shift[j]) * s
                ls[j] = logf(s)
            }
        }
    }

    public func gaussianLogDensity(_ z: CPUBuffer, zOffset: Int, h: CPUBuffer, meanOffset: Int, logsOffset: Int,
                                   rowStride: Int, rows: Int, cols: Int, out: CPUBuffer) throws {
        let halfLog2Pi: Float = 0.91893853320467274178
        for r in 0..<rows {
            let zp = z.pointer + zOffset + r * cols, o = out.pointer + r * cols
            let m = h.pointer + meanOffset + r * rowStride * cols, l = h.pointer + logsOffset + r * rowStride * cols
            for j in 0..<cols {
                let d = (zp[j] - m[j]) * expf(-l[j])
                o[j] = -halfLog2Pi - l[j] - 0.5 * d * d
            }
        }
    }

    public func gaussianSample(_ eps: CPUBuffer, h: CPUBuffer, meanOffset: Int, logsOffset: Int, rowStride: Int,
                               rows: Int, cols: Int, temperature: Float, z: CPUBuffer, zOffset: Int) throws {
        for r in 0..<rows {
            let e = eps.pointer + r * cols, o = z.pointer + zOffset + r * cols
            let m = h.pointer + meanOffset + r * rowStride * cols, l = h.pointer + logsOffset + r * rowStride * cols
            for j in 0..<cols { o[j] = m[j] + expf(l[j]) * e[j] * temperature }
        }
    }

    public func random(_ buffer: CPUBuffer, offset: Int, count: Int, distribution: RandomDistribution,
                       seed: UInt64, stream: UInt64) throws {
        Philox.fill(buffer.pointer + offset, count: count, distribution: distribution, seed: seed, stream: stream)
    }

    public func scale(_ x: CPUBuffer, xOffset: Int, alpha: Float, beta: Float, y: CPUBuffer, yOffset: Int, count: Int) throws {
        let xp = x.pointer + xOffset, yp = y.pointer + yOffset
        for i in 0..<count { yp[i] = alpha * xp[i] + beta }
    }

    public func affineCouplingBackward(_ x: CPUBuffer, h: CPUBuffer, dy: CPUBuffer, half: Int, cols: Int, logdetGrad: Float,
                                       dx: CPUBuffer, dh: CPUBuffer) throws {
        parallelFor(half, grain: max(1, 32768 / max(cols, 1))) { i in
            let x2 = x.pointer + (half + i) * cols, d2 = dy.pointer + (half + i) * cols, o2 = dx.pointer + (half + i) * cols
            let shift = h.pointer + (2 * i) * cols, raw = h.pointer + (2 * i + 1) * cols
            let dshift = dh.pointer + (2 * i) * cols, draw = dh.pointer + (2 * i + 1) * cols
            for j in 0..<cols {
                let s = 1 / (1 + expf(-(raw[j] + 2)))
                let y2 = (x2[j] + shift[j]) * s
                o2[j] = d2[j] * s
                dshift[j] = d2[j] * s
                draw[j] = (1 - s) * (d2[j] * y2 + logdetGrad)
            }
        }
    }

    public func gaussianBackward(_ z: CPUBuffer, zOffset: Int, h: CPUBuffer, meanOffset: Int, logsOffset: Int, rowStride: Int,
                                 rows: Int, cols: Int, scale: Float, dz: CPUBuffer, dzOffset: Int, dh: CPUBuffer) throws {
        for r in 0..<rows {
            let zp = z.pointer + zOffset + r * cols, o = dz.pointer + dzOffset + r * cols
            let mo = meanOffset + r * rowStride * cols, lo = logsOffset + r * rowStride * cols
            for j in 0..<cols {
                let l = h.pointer[lo + j]
                let diff = zp[j] - h.pointer[mo + j], e = expf(-2 * l)
                let g = -scale * diff * e
                o[j] = g
                dh.pointer[mo + j] = -g
                dh.pointer[lo + j] = scale * (diff * diff * e - 1)
            }
        }
    }

    public func adamUpdate(_ parameter: CPUBuffer, gradient: CPUBuffer, m: CPUBuffer, v: CPUBuffer, count: Int,
                           learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, correction1: Float,
                           correction2: Float, gradScale: Float, adamax: Bool) throws {
        let p = parameter.pointer, g = gradient.pointer, mp = m.pointer, vp = v.pointer
        for i in 0..<count {
            let gi = g[i] * gradScale
            mp[i] = beta1 * mp[i] + (1 - beta1) * gi
            if adamax {
                vp[i] = max(beta2 * vp[i], abs(gi))
                p[i] -= learningRate * correction1 * mp[i] / (vp[i] + epsilon)
            } else {
                vp[i] = beta2 * vp[i] + (1 - beta2) * gi * gi
                p[i] -= learningRate * (mp[i] * correction1) / ((vp[i] * correction2).squareRoot() + epsilon)
            }
        }
    }

    // MARK: The training step (StepMath on the buffers' memory)

    public func addScaledSum(_ x: CPUBuffer, xOffset: Int, count: Int, scale: Float, out: CPUBuffer, outOffset: Int,
                             outCount: Int) throws {
        try check(xOffset + count <= x.count && outOffset + outCount <= out.count, "addScaledSum past a buffer")
        StepMath.addScaledSum(x.pointer + xOffset, count: count, scale: scale, out: out.pointer + outOffset, outCount: outCount)
    }

    public func luWeight(p: CPUBuffer, lower: CPUBuffer, upper: CPUBuffer, logS: CPUBuffer, signS: CPUBuffer, channels: Int,
                         weight: CPUBuffer) throws {
        StepMath.luWeight(p: p.pointer, lower: lower.pointer, upper: upper.pointer, logS: logS.pointer, signS: signS.pointer,
                          channels: channels, weight: weight.pointer)
    }

    public func luInverse(p: CPUBuffer, lower: CPUBuffer, upper: CPUBuffer, logS: CPUBuffer, signS: CPUBuffer, channels: Int,
                          inverse: CPUBuffer) throws {
        StepMath.luInverse(p: p.pointer, lower: lower.pointer, upper: upper.pointer, logS: logS.pointer, signS: signS.pointer,
                           channels: channels, inverse: inverse.pointer)
    }

    public func luBackward(dw: CPUBuffer, p: CPUBuffer, lower: CPUBuffer, upper: CPUBuffer, logS: CPUBuffer, signS: CPUBuffer,
                           channels: Int, logdetScale: Float, gLower: CPUBuffer, gUpper: CPUBuffer, gLogS: CPUBuffer) throws {
        StepMath.luBackward(dw: dw.pointer, p: p.pointer, lower: lower.pointer, upper: upper.pointer, logS: logS.pointer,
                            signS: signS.pointer, channels: channels, logdetScale: logdetScale, gLower: gLower.pointer,
                            gUpper: gUpper.pointer, gLogS: gLogS.pointer)
    }

    public func dequantize(_ pixels: CPUBuffer, images: Int, channels: Int, height: Int, width: Int, nBits: Int,
                           scalars: CPUBuffer, x: CPUBuffer) throws {
        let count = images * channels * height * width
        try check(pixels.count * 4 >= count && x.count >= count && scalars.count >= StepScalars.count,
                  "dequantize of \(count) values past a buffer")
        StepMath.dequantize(UnsafeRawPointer(pixels.pointer).assumingMemoryBound(to: UInt8.self), images: images,
                            channels: channels, spatial: height * width, nBits: nBits,
                            noise: StepScalars(scalars.pointer).noise, x: x.pointer)
    }

    public func stepDecide(record: CPUBuffer, scalars: CPUBuffer) throws {
        StepMath.stepDecide(record: record.pointer, scalars: scalars.pointer)
    }

    public func arenaUpdate(_ parameters: CPUBuffer, gradients: CPUBuffer, m: CPUBuffer, v: CPUBuffer, ema: CPUBuffer?,
                            record: CPUBuffer, scalars: CPUBuffer, count: Int, beta1: Float, beta2: Float, epsilon: Float,
                            adamax: Bool, emaRate: Float) throws {
        try check([parameters, gradients, m, v].allSatisfy { $0.count >= count } && (ema?.count ?? count) >= count,
                  "arenaUpdate of \(count) floats past a buffer")
        let chunk = 1 << 15
        parallelFor((count + chunk - 1) / chunk) { c in   // elementwise: the same result for any split
            StepMath.arenaUpdate(parameters.pointer, gradients: gradients.pointer, m: m.pointer, v: v.pointer,
                                 ema: ema?.pointer, record: record.pointer, scalars: scalars.pointer,
                                 range: (c * chunk)..<min(count, (c + 1) * chunk), beta1: beta1, beta2: beta2,
                                 epsilon: epsilon, adamax: adamax, emaRate: emaRate)
        }
    }

    private func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
        if !ok { throw GlowError("cpu backend: \(what())") }
    }

    /// Runs `body(i)` for i in 0..<n, over the cores when there is enough work.
    private func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int) -> Void) {
        if n < 2 * grain || workers < 2 { for i in 0..<n { body(i) }; return }
        let chunks = min(workers * 4, (n + grain - 1) / grain)
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { t in
                let lo = t * n / chunks, hi = (t + 1) * n / chunks
                for i in lo..<hi { body(i) }
            }
        }
    }
}
