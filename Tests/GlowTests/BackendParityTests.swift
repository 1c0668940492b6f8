import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Every backend operation on the CPU and OpenCL backends against a naive Float64
/// reference, with fresh random inputs and NaN-poisoned outputs (the pattern of ggml's
/// test-backend-ops). Tolerance: relative error 1e-5 (elementwise) to 1e-4 (sums over up
/// to a few thousand Float32 terms), floor 1e-3 on the denominator; sums whose terms cancel
/// (GEMM, col2im) use the normwise error max|Δ| / max|ref|.
final class BackendParityTests: XCTestCase {
    var stream: UInt64 = 100
    func fresh(_ n: Int, low: Float? = nil, high: Float? = nil) -> [Float] {
        stream += 1
        return randomValues(n, stream: stream, low: low, high: high)
    }

    // MARK: GEMM

    func testGemmAllTransposesAndAwkwardShapes() throws {
        // Includes shapes that are a multiple of no tile size (67 × 131 × 45), and long K with
        // few output tiles (the GPU variant's split-K path).
        let shapes = [(1, 1, 1), (7, 5, 3), (13, 17, 33), (64, 49, 36), (9, 100, 18), (33, 16, 64), (5, 31, 200),
                      (67, 131, 45), (7, 9, 1000), (70, 20, 600)]
        for b in try TestBackends.all() {
            for (m, n, k) in shapes {
                for ta in [false, true] {
                    for tb in [false, true] {
                        for beta: Float in [0, 0.5] {
                            try checkGemm(b, m, n, k, ta, tb, beta)
                        }
                    }
                }
            }
        }
    }

    func checkGemm<B: Backend>(_ b: B, _ m: Int, _ n: Int, _ k: Int, _ ta: Bool, _ tb: Bool, _ beta: Float) throws {
        let lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3
        let aRows = ta ? k : m, bRows = tb ? n : k
        let a = fresh(aRows * lda + 5), bv = fresh(bRows * ldb + 4), c0 = fresh(m * ldc + 7)
        let alpha: Float = 1.25
        var ref = c0.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = Double(ta ? a[5 + p * lda + i] : a[5 + i * lda + p])
                    let bw = Double(tb ? bv[4 + j * ldb + p] : bv[4 + p * ldb + j])
                    s += av * bw
                }
                ref[7 + i * ldc + j] = Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(c0[7 + i * ldc + j]))
            }
        }
        let ab = try b.makeBuffer(a), bb = try b.makeBuffer(bv), cb = try b.makeBuffer(c0)
        if beta == 0 {  // poison the block C so unwritten or wrongly-read elements show
            for i in 0..<m { try b.fill(cb, offset: 7 + i * ldc, count: n, value: .nan) }
        }
        try b.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: ab, aOffset: 5, lda: lda,
                   b: bb, bOffset: 4, ldb: ldb, beta: beta, c: cb, cOffset: 7, ldc: ldc)
        let got = try b.download(cb)
        // Skip the untouched elements outside the m × n block: compare them exactly.
        var block: [Float] = [], blockRef: [Double] = []
        for i in 0..<got.count {
            let r = (i - 7) / ldc, j = (i - 7) % ldc
            if i >= 7 && r < m && j < n { block.append(got[i]); blockRef.append(ref[i]) }
            else { XCTAssertEqual(Double(got[i]), ref[i], "\(b.name) gemm wrote outside C's block at \(i)") ; if Double(got[i]) != ref[i] { break } }
        }
        let err = normwiseError(block, blockRef)
        XCTAssertLessThan(err, 1e-5, "\(b.name) gemm m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb) beta=\(beta)")
    }

    // MARK: Convolution lowering

    func testIm2colAndCol2im() throws {
        for b in try TestBackends.all() {
            for (c, n, h, w) in [(1, 1, 1, 1), (3, 2, 7, 7), (5, 1, 4, 6), (2, 3, 8, 5)] { try checkIm2col(b, c, n, h, w) }
        }
    }

    func checkIm2col<B: Backend>(_ b: B, _ c: Int, _ n: Int, _ h: Int, _ w: Int) throws {
        let p = n * h * w, off = 3
        let x = fresh(off + c * p)
        var ref = [Double](repeating: 0, count: c * 9 * p)
        for ch in 0..<c { for t in 0..<9 { for im in 0..<n { for y in 0..<h { for xx in 0..<w {
            let sy = y + t / 3 - 1, sx = xx + t % 3 - 1
            let inside: Bool = sy >= 0 && sy < h && sx >= 0 && sx < w
            let src: Int = off + (ch * n + im) * h * w + sy * w + sx
            let dst: Int = (ch * 9 + t) * p + im * h * w + y * w + xx
            ref[dst] = inside ? Double(x[src]) : 0
        } } } } }
        let xb = try b.makeBuffer(x), col = try b.poisoned(c * 9 * p)
        try b.im2col3x3(xb, xOffset: off, channels: c, images: n, height: h, width: w, columns: col)
        XCTAssertEqual(relativeError(try b.download(col), ref), 0, "\(b.name) im2col \(c)x\(n)x\(h)x\(w)")

        // col2im is the adjoint: <im2col(x), g> == <x, col2im(g)> with g random.
        let g = fresh(c * 9 * p), base = fresh(off + c * p)
        let gb = try b.makeBuffer(g), out = try b.makeBuffer(base)
        try b.col2im3x3(gb, channels: c, images: n, height: h, width: w, x: out, xOffset: off)
        var adj = base.map(Double.init)
        for i in 0..<(c * 9 * p) {
            // scatter g[i] to the pixel that im2col read for entry i
            let row = i / p, q = i % p, ch = row / 9, t = row % 9
            let im = q / (h * w), y = (q % (h * w)) / w, xx = q % w
            let sy = y + t / 3 - 1, sx = xx + t % 3 - 1
            let inside: Bool = sy >= 0 && sy < h && sx >= 0 && sx < w
            if inside {
                let idx: Int = off + (ch * n + im) * h * w + sy * w + sx
                adj[idx] += Double(g[i])
            }
        }
        XCTAssertLessThan(normwiseError(try b.download(out), adj), 1e-6, "\(b.name) col2im")
    }

    // MARK: 3×3 convolution

    /// Forward, data gradient (accumulated onto a random dx) and weight gradient against a
    /// direct Float64 convolution; wide (O > C) and narrow (O < C) outputs, sizes a multiple
    /// of no tile, offsets on every operand, scratch given and left to the backend.
    func testConv3x3ForwardAndGradients() throws {
        for b in try TestBackends.all() {
            for (c, o, n, h, w) in [(1, 1, 1, 1, 1), (5, 13, 3, 7, 9), (13, 5, 3, 7, 9), (5, 13, 3, 16, 16), (6, 6, 2, 5, 3)] {
                try checkConv3x3(b, c, o, n, h, w)
            }
        }
    }

    func checkConv3x3<B: Backend>(_ b: B, _ c: Int, _ o: Int, _ n: Int, _ h: Int, _ w: Int) throws {
        let p = n * h * w, (xo, yo, dyo, dxo) = (3, 2, 1, 4)
        let x = fresh(xo + c * p), wt = fresh(o * c * 9), dy = fresh(dyo + o * p), dx0 = fresh(dxo + c * p)
        // x[c, q shifted by tap t], or nil outside the image.
        func src(_ ch: Int, _ q: Int, _ t: Int) -> Int? {
            let im = q / (h * w), yy = (q % (h * w)) / w, xx = q % w
            let sy = yy + t / 3 - 1, sx = xx + t % 3 - 1
            guard sy >= 0 && sy < h && sx >= 0 && sx < w else { return nil }
            return (ch * n + im) * h * w + sy * w + sx
        }
        var refY = [Double](repeating: 0, count: o * p), refDx = dx0.map(Double.init)
        var refDw = [Double](repeating: 0, count: o * c * 9)
        for oo in 0..<o { for q in 0..<p { for ch in 0..<c { for t in 0..<9 {
            guard let s = src(ch, q, t) else { continue }
            let wv = Double(wt[(oo * c + ch) * 9 + t])
            refY[oo * p + q] += wv * Double(x[xo + s])
            refDx[dxo + s] += wv * Double(dy[dyo + oo * p + q])
            refDw[(oo * c + ch) * 9 + t] += Double(dy[dyo + oo * p + q]) * Double(x[xo + s])
        } } } }
        let shape = "\(b.name) conv3x3 C=\(c) O=\(o) \(n)×\(h)×\(w)"
        let xb = try b.makeBuffer(x), wb = try b.makeBuffer(wt), dyb = try b.makeBuffer(dy)
        for givenScratch in [false, true] {
            let cols = givenScratch
                ? try b.scratch(b.conv3x3ScratchCount(inChannels: c, outChannels: o, images: n, height: h, width: w)) : nil
            let y = try b.poisoned(yo + o * p)
            try b.conv3x3Forward(xb, xOffset: xo, weight: wb, inChannels: c, outChannels: o, images: n, height: h, width: w,
                                 y: y, yOffset: yo, columns: cols)
            XCTAssertLessThan(normwiseError(Array(try b.download(y)[yo...]), refY), 1e-5, "\(shape) forward")
            let dx = try b.makeBuffer(dx0)
            try b.conv3x3BackwardData(dyb, dyOffset: dyo, weight: wb, inChannels: c, outChannels: o, images: n, height: h,
                                      width: w, dx: dx, dxOffset: dxo, columns: cols)
            XCTAssertLessThan(normwiseError(try b.download(dx), refDx), 1e-5, "\(shape) backward data (dx +=)")
            let dw = try b.poisoned(o * c * 9)
            try b.conv3x3BackwardWeights(xb, xOffset: xo, dy: dyb, dyOffset: dyo, inChannels: c, outChannels: o, images: n,
                                         height: h, width: w, dw: dw, columns: cols)
            XCTAssertLessThan(normwiseError(try b.download(dw), refDw), 1e-5, "\(shape) backward weights")
        }
    }

    // MARK: Elementwise and per-channel

    func testChannelAffineUnaryBinary() throws {
        for b in try TestBackends.all() { try checkElementwise(b) }
    }

    func checkElementwise<B: Backend>(_ b: B) throws {
        let rows = 5, cols = 37
        let x = fresh(2 + rows * cols), bias = fresh(rows), logs = fresh(rows, low: -1, high: 1)
        for factor: Float in [1, 3] {
            for reverse in [false, true] {
                var ref = [Double](repeating: 0, count: 1 + rows * cols)
                ref[0] = .nan
                for r in 0..<rows { for j in 0..<cols {
                    let v = Double(x[2 + r * cols + j]), l = Double(factor) * Double(logs[r])
                    ref[1 + r * cols + j] = reverse ? v * Foundation.exp(-l) - Double(bias[r]) : (v + Double(bias[r])) * Foundation.exp(l)
                } }
                let y = try b.poisoned(1 + rows * cols)
                try b.channelAffine(try b.makeBuffer(x), xOffset: 2, rows: rows, cols: cols, bias: try b.makeBuffer(bias),
                                    logs: try b.makeBuffer(logs), factor: factor, reverse: reverse, y: y, yOffset: 1)
                let got = Array(try b.download(y).dropFirst())
                XCTAssertLessThan(relativeError(got, Array(ref.dropFirst())), 1e-5, "\(b.name) channelAffine f=\(factor) rev=\(reverse)")
            }
        }
        let n = 1000
        let u = fresh(n + 3), pos = fresh(n, low: 0.1, high: 4), v = fresh(n + 2)
        for op in UnaryOp.allCases {
            let input = op == .log ? pos : Array(u.dropFirst(3))
            let ref: [Double] = input.map { d in
                let a = Double(d)
                switch op {
                case .exp: return Foundation.exp(a)
                case .log: return Foundation.log(a)
                case .sigmoid: return 1 / (1 + Foundation.exp(-a))
                case .relu: return max(a, 0)
                case .negate: return -a
                case .square: return a * a
                }
            }
            let y = try b.poisoned(n + 1)
            try b.unary(op, try b.makeBuffer(input), xOffset: 0, y: y, yOffset: 1, count: n)
            XCTAssertLessThan(relativeError(Array(try b.download(y).dropFirst()), ref), 1e-5, "\(b.name) unary \(op)")
        }
        for op in BinaryOp.allCases {
            let ref: [Double] = (0..<n).map { i in
                let a = Double(u[3 + i]), c = Double(op == .divide ? pos[i] : v[2 + i])
                switch op { case .add: return a + c; case .subtract: return a - c; case .multiply: return a * c; case .divide: return a / c
                case .reluBackward: return a > 0 ? c : 0 }
            }
            let y = try b.poisoned(n)
            let second = op == .divide ? [0, 0] + pos : v
            try b.binary(op, try b.makeBuffer(u), aOffset: 3, try b.makeBuffer(second), bOffset: 2, y: y, yOffset: 0, count: n)
            XCTAssertLessThan(relativeError(try b.download(y), ref), 1e-5, "\(b.name) binary \(op)")
        }
        // fill and copy2D
        let src = fresh(50)
        let dst = try b.poisoned(40)
        try b.fill(dst, offset: 0, count: 40, value: 2.5)
        try b.copy2D(try b.makeBuffer(src), srcOffset: 3, srcStride: 10, dst, dstOffset: 1, dstStride: 8, rows: 4, cols: 6)
        var ref = [Double](repeating: 2.5, count: 40)
        for r in 0..<4 { for j in 0..<6 { ref[1 + r * 8 + j] = Double(src[3 + r * 10 + j]) } }
        XCTAssertEqual(relativeError(try b.download(dst), ref), 0, "\(b.name) fill/copy2D")
        // copyStrided: a transposing gather (row stride 1, column stride 7) into a strided target.
        let t = try b.poisoned(60)
        try b.fill(t, offset: 0, count: 60, value: -1)
        try b.copyStrided(try b.makeBuffer(src), srcOffset: 2, srcRowStride: 1, srcColStride: 7, t, dstOffset: 3,
                          dstRowStride: 12, dstColStride: 2, rows: 4, cols: 5)
        var tref = [Double](repeating: -1, count: 60)
        for r in 0..<4 { for j in 0..<5 { tref[3 + r * 12 + j * 2] = Double(src[2 + r + j * 7]) } }
        XCTAssertEqual(relativeError(try b.download(t), tref), 0, "\(b.name) copyStrided")
    }

    // MARK: Reductions

    func testRowAndSampleSums() throws {
        for b in try TestBackends.all() { try checkReductions(b) }
    }

    func checkReductions<B: Backend>(_ b: B) throws {
        // Short rows (one work-group each) and long ones (cut into chunks on the GPU variant).
        try checkReductions(b, rows: 6, images: 3, spatial: 49)
        try checkReductions(b, rows: 3, images: 2, spatial: 5003)
    }

    func checkReductions<B: Backend>(_ b: B, rows: Int, images: Int, spatial: Int) throws {
        let cols = images * spatial
        let x = fresh(4 + rows * cols)
        for squares in [false, true] {
            let ref: [Double] = (0..<rows).map { r in (0..<cols).reduce(0.0) { s, j in let v = Double(x[4 + r * cols + j]); return s + (squares ? v * v : v) } }
            let out = try b.poisoned(rows)
            try b.rowSums(try b.makeBuffer(x), xOffset: 4, rows: rows, cols: cols, squares: squares, out: out)
            XCTAssertLessThan(relativeError(try b.download(out), ref), 1e-4, "\(b.name) rowSums squares=\(squares)")
        }
        let y2 = fresh(rows * cols)
        let dots: [Double] = (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + Double(x[4 + r * cols + $1]) * Double(y2[r * cols + $1]) } }
        let dout = try b.poisoned(rows)
        try b.rowDots(try b.makeBuffer(Array(x[4...])), try b.makeBuffer(y2), rows: rows, cols: cols, out: dout)
        XCTAssertLessThan(normwiseError(try b.download(dout), dots), 1e-5, "\(b.name) rowDots")
        let base = fresh(images)
        for accumulate in [false, true] {
            let ref: [Double] = (0..<images).map { n in
                var s = accumulate ? Double(base[n]) : 0
                for r in 0..<rows { for j in 0..<spatial { s += Double(x[4 + (r * images + n) * spatial + j]) } }
                return s
            }
            let out = accumulate ? try b.makeBuffer(base) : try b.poisoned(images)
            try b.sampleSums(try b.makeBuffer(x), xOffset: 4, rows: rows, images: images, spatial: spatial, out: out, accumulate: accumulate)
            XCTAssertLessThan(relativeError(try b.download(out), ref), 1e-4, "\(b.name) sampleSums acc=\(accumulate)")
        }
    }

    // MARK: Squeeze

    func testSqueezeAndInverse() throws {
        for b in try TestBackends.all() { try checkSqueeze(b) }
    }

    func checkSqueeze<B: Backend>(_ b: B) throws {
        let c = 3, n = 2, h = 6, w = 4
        let x = fresh(c * n * h * w)
        var ref = [Double](repeating: .nan, count: x.count)
        // Spec: input (c, 2i+di, 2j+dj) goes to channel 4c + 2di + dj at (i, j); CNHW storage.
        for ch in 0..<c { for im in 0..<n { for y in 0..<h { for xx in 0..<w {
            let oc = ch * 4 + (y % 2) * 2 + xx % 2
            ref[((oc * n + im) * (h / 2) + y / 2) * (w / 2) + xx / 2] = Double(x[((ch * n + im) * h + y) * w + xx])
        } } } }
        let xb = try b.makeBuffer(x), y = try b.poisoned(x.count), back = try b.poisoned(x.count)
        try b.squeeze(xb, y: y, channels: c, images: n, height: h, width: w, inverse: false)
        XCTAssertEqual(relativeError(try b.download(y), ref), 0, "\(b.name) squeeze")
        try b.squeeze(y, y: back, channels: c, images: n, height: h, width: w, inverse: true)
        XCTAssertEqual(try b.download(back), x, "\(b.name) unsqueeze")
    }

    // MARK: Fused Glow operations

    func testAffineCouplingGaussianAndRandom() throws {
        for b in try TestBackends.all() { try checkFused(b) }
    }

    func checkFused<B: Backend>(_ b: B) throws {
        let half = 3, cols = 29
        let x = fresh(2 * half * cols), h = fresh(2 * half * cols)
        for reverse in [false, true] {
            var ref = x.map(Double.init), refLog = [Double](repeating: 0, count: half * cols)
            for r in 0..<half { for j in 0..<cols {
                let shift = Double(h[2 * r * cols + j]), s = 1 / (1 + Foundation.exp(-(Double(h[(2 * r + 1) * cols + j]) + 2)))
                let v = Double(x[(half + r) * cols + j])
                ref[(half + r) * cols + j] = reverse ? v / s - shift : (v + shift) * s
                refLog[r * cols + j] = Foundation.log(s)
            } }
            let y = try b.poisoned(x.count), ls = try b.poisoned(half * cols)
            try b.affineCoupling(try b.makeBuffer(x), h: try b.makeBuffer(h), half: half, cols: cols, reverse: reverse, y: y, logScale: ls)
            XCTAssertLessThan(relativeError(try b.download(y), ref), 1e-5, "\(b.name) affineCoupling rev=\(reverse)")
            XCTAssertLessThan(relativeError(try b.download(ls), refLog), 1e-5, "\(b.name) affineCoupling log s")
        }
        // Gaussian density with the split layout (mean even rows, logs odd rows) and the top layout.
        let rows = 4
        let z = fresh(1 + rows * cols), hh = fresh(2 * rows * cols, low: -1, high: 1)
        for (mo, lo, rs) in [(0, cols, 2), (0, rows * cols, 1)] {
            let ref: [Double] = (0..<(rows * cols)).map { i in
                let r = i / cols, j = i % cols
                let m = Double(hh[mo + r * rs * cols + j]), l = Double(hh[lo + r * rs * cols + j])
                let d = (Double(z[1 + i]) - m) / Foundation.exp(l)
                return -0.5 * Foundation.log(2 * Double.pi) - l - 0.5 * d * d
            }
            let out = try b.poisoned(rows * cols)
            try b.gaussianLogDensity(try b.makeBuffer(z), zOffset: 1, h: try b.makeBuffer(hh), meanOffset: mo, logsOffset: lo,
                                     rowStride: rs, rows: rows, cols: cols, out: out)
            XCTAssertLessThan(relativeError(try b.download(out), ref), 1e-5, "\(b.name) gaussianLogDensity stride \(rs)")
            let eps = fresh(rows * cols)
            let sref: [Double] = (0..<(rows * cols)).map { i in
                let r = i / cols, j = i % cols
                return Double(hh[mo + r * rs * cols + j]) + Foundation.exp(Double(hh[lo + r * rs * cols + j])) * Double(eps[i]) * 0.7
            }
            let zs = try b.poisoned(2 + rows * cols)
            try b.gaussianSample(try b.makeBuffer(eps), h: try b.makeBuffer(hh), meanOffset: mo, logsOffset: lo, rowStride: rs,
                                 rows: rows, cols: cols, temperature: 0.7, z: zs, zOffset: 2)
            XCTAssertLessThan(relativeError(Array(try b.download(zs).dropFirst(2)), sref), 1e-5, "\(b.name) gaussianSample")
        }
        // Random numbers: identical to the Swift Philox on every backend (count not a multiple of 4).
        for dist in [RandomDistribution.normal, .uniform(low: -0.5, high: 0.25)] {
            let count = 1001
            let ref = Philox.array(count: count, distribution: dist, seed: 0xDEAD_BEEF_1234, stream: 99)
            let buf = try b.poisoned(count + 3)
            try b.random(buf, offset: 3, count: count, distribution: dist, seed: 0xDEAD_BEEF_1234, stream: 99)
            let got = Array(try b.download(buf).dropFirst(3))
            // Box–Muller and the affine map in Float32 with device libm: a few ulp.
            XCTAssertLessThan(normwiseError(got, ref.map(Double.init)), 1e-6, "\(b.name) random \(dist)")
        }
    }

    /// The generator itself: moments of 40000 normals and uniforms, and independence of streams.
    func testPhiloxStatistics() {
        let n = 40000
        let z = Philox.array(count: n, distribution: .normal, seed: 1, stream: 0).map(Double.init)
        let mean = z.reduce(0, +) / Double(n), varz = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        XCTAssertLessThan(abs(mean), 0.02)   // 4 standard errors
        XCTAssertLessThan(abs(varz - 1), 0.03)
        let u = Philox.array(count: n, distribution: .uniform(low: 0, high: 1), seed: 1, stream: 0).map(Double.init)
        XCTAssertLessThan(abs(u.reduce(0, +) / Double(n) - 0.5), 0.006)
        XCTAssert(u.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertNotEqual(Philox.array(count: 8, distribution: .normal, seed: 1, stream: 1),
                          Philox.array(count: 8, distribution: .normal, seed: 1, stream: 0))
    }

    // MARK: Training operations

    func testTrainingOps() throws {
        for b in try TestBackends.all() { try checkTrainingOps(b) }
    }

    func checkTrainingOps<B: Backend>(_ b: B) throws {
        let n = 301
        let x = fresh(n + 2)
        let y = try b.poisoned(n + 1)
        try b.scale(try b.makeBuffer(x), xOffset: 2, alpha: -1.5, beta: 0.25, y: y, yOffset: 1, count: n)
        XCTAssertLessThan(relativeError(Array(try b.download(y).dropFirst()), (0..<n).map { -1.5 * Double(x[2 + $0]) + 0.25 }), 1e-5, "\(b.name) scale")

        // Coupling backward against the analytic derivative written out in Float64.
        let half = 3, cols = 23
        let xv = fresh(2 * half * cols), h = fresh(2 * half * cols), dy = fresh(2 * half * cols)
        let g: Float = -0.37
        var refDx = [Double](repeating: .nan, count: 2 * half * cols), refDh = [Double](repeating: 0, count: 2 * half * cols)
        for r in 0..<half { for j in 0..<cols {
            let k = (half + r) * cols + j, e = 2 * r * cols + j, o = (2 * r + 1) * cols + j
            let s = 1 / (1 + Foundation.exp(-(Double(h[o]) + 2)))
            let d = Double(dy[k]), y2 = (Double(xv[k]) + Double(h[e])) * s
            refDx[k] = d * s; refDh[e] = d * s
            refDh[o] = s * (1 - s) * (d * (Double(xv[k]) + Double(h[e]))) + Double(g) * (1 - s)   // ∂/∂raw of (y2, log s)
            _ = y2
        } }
        let dx = try b.poisoned(2 * half * cols), dh = try b.poisoned(2 * half * cols)
        try b.affineCouplingBackward(try b.makeBuffer(xv), h: try b.makeBuffer(h), dy: try b.makeBuffer(dy), half: half,
                                     cols: cols, logdetGrad: g, dx: dx, dh: dh)
        let gotDx = try b.download(dx)
        XCTAssertLessThan(relativeError(Array(gotDx[(half * cols)...]), Array(refDx[(half * cols)...])), 1e-5, "\(b.name) coupling backward dx")
        XCTAssertLessThan(relativeError(try b.download(dh), refDh), 1e-5, "\(b.name) coupling backward dh")

        // Gaussian backward: compare with central differences of the Float64 log-density.
        let rows = 2, c2 = 13
        let z = fresh(rows * c2), hh = fresh(2 * rows * c2, low: -1, high: 1)
        let scale: Float = 0.8
        func logN(_ zz: Double, _ m: Double, _ l: Double) -> Double { let d = (zz - m) / Foundation.exp(l); return -l - 0.5 * d * d }
        var refDz = [Double](repeating: 0, count: rows * c2), refH = [Double](repeating: 0, count: 2 * rows * c2)
        let eps = 1e-6
        for i in 0..<(rows * c2) {
            let r = i / c2, j = i % c2
            let mi = r * 2 * c2 + j, li = c2 + r * 2 * c2 + j
            let zz = Double(z[i]), m = Double(hh[mi]), l = Double(hh[li]), sc = Double(scale)
            refDz[i] = sc * (logN(zz + eps, m, l) - logN(zz - eps, m, l)) / (2 * eps)
            refH[mi] = sc * (logN(zz, m + eps, l) - logN(zz, m - eps, l)) / (2 * eps)
            refH[li] = sc * (logN(zz, m, l + eps) - logN(zz, m, l - eps)) / (2 * eps)
        }
        let dz = try b.poisoned(rows * c2), dhh = try b.poisoned(2 * rows * c2)
        try b.gaussianBackward(try b.makeBuffer(z), zOffset: 0, h: try b.makeBuffer(hh), meanOffset: 0, logsOffset: c2,
                               rowStride: 2, rows: rows, cols: c2, scale: scale, dz: dz, dzOffset: 0, dh: dhh)
        XCTAssertLessThan(relativeError(try b.download(dz), refDz), 1e-5, "\(b.name) gaussian backward dz")
        XCTAssertLessThan(relativeError(try b.download(dhh), refH), 1e-5, "\(b.name) gaussian backward dh")

        // Adam and Adamax, three steps, against the update rule in Float64.
        for adamax in [false, true] {
            let cnt = 37
            var p64 = fresh(cnt).map(Double.init), m64 = [Double](repeating: 0, count: cnt), v64 = m64
            let pb = try b.makeBuffer(p64.map(Float.init)), mb = try b.zeros(cnt), vb = try b.zeros(cnt)
            for t in 1...3 {
                let gr = fresh(cnt)
                let (lr, b1, b2, ep, gs) = (0.01, 0.9, 0.999, 1e-8, 0.5)
                let c1 = 1 / (1 - pow(b1, Double(t))), c2 = 1 / (1 - pow(b2, Double(t)))
                for i in 0..<cnt {
                    let gi = Double(gr[i]) * gs
                    m64[i] = b1 * m64[i] + (1 - b1) * gi
                    if adamax { v64[i] = max(b2 * v64[i], abs(gi)); p64[i] -= lr * c1 * m64[i] / (v64[i] + ep) }
                    else { v64[i] = b2 * v64[i] + (1 - b2) * gi * gi; p64[i] -= lr * m64[i] * c1 / ((v64[i] * c2).squareRoot() + ep) }
                }
                try b.adamUpdate(pb, gradient: try b.makeBuffer(gr), m: mb, v: vb, count: cnt, learningRate: Float(lr),
                                 beta1: Float(b1), beta2: Float(b2), epsilon: Float(ep), correction1: Float(c1),
                                 correction2: Float(c2), gradScale: Float(gs), adamax: adamax)
            }
            // Three Float32 updates with sqrt and division: a few 1e-6 relative per step.
            XCTAssertLessThan(relativeError(try b.download(pb), p64), 5e-5, "\(b.name) adam adamax=\(adamax)")
        }
    }
}
