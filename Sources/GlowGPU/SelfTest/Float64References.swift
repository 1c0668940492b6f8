import Foundation
import GlowCore

/// A check's outputs computed in Float64 from its inputs, written out from each
/// operation's definition (`Backend`'s documentation) without any backend, and how a
/// backend's outputs must match them. The test suite compares every backend with these
/// (CPU included, which `glow-gpu selftest` takes as its reference); the command itself does
/// not use them.
public struct Float64Reference: Sendable {
    /// One array per output of `OperationCheck.outputs`, margins included (NaN where the
    /// output buffer was NaN-poisoned and must stay untouched).
    public var outputs: [[Double]]
    /// How outputs are compared.
    public var measure: ErrorMeasure
    /// The largest error that passes.
    public var tolerance: Double

    /// A reference compared with `measure` and `tolerance`.
    public init(_ outputs: [[Double]], measure: ErrorMeasure, tolerance: Double) {
        self.outputs = outputs; self.measure = measure; self.tolerance = tolerance
    }

    /// A reference compared as `check`'s rows are.
    init(_ outputs: [[Double]], as check: some OperationCheck) {
        self.init(outputs, measure: check.measure, tolerance: check.tolerance)
    }
}

extension SelfTest {
    /// Runs `checks` on `subject` and compares each output with the check's Float64
    /// reference (`references[i]` for `checks[i]`, computed once for any number of subjects);
    /// a check without one gives no row. Never throws: an operation that throws becomes a
    /// failed row carrying the error.
    public static func run<S: Backend>(subject: S, float64 checks: [any OperationCheck], references: [Float64Reference?],
                                       progress: ((SelfTestRow) -> Void)? = nil) -> SelfTestReport {
        let start = Date()
        var rows: [SelfTestRow] = []
        for (check, reference) in zip(checks, references) {
            guard let reference else { continue }
            let row: SelfTestRow
            do {
                let got = try check.outputs(on: subject)
                var worst = got.count == reference.outputs.count ? 0.0 : .infinity
                for (g, w) in zip(got, reference.outputs) { worst = max(worst, reference.measure.error(g, float64: w)) }
                row = SelfTestRow(op: check.op, shape: check.shape, maxRelativeError: worst, tolerance: reference.tolerance)
            } catch {
                row = SelfTestRow(op: check.op, shape: check.shape, maxRelativeError: .infinity, tolerance: reference.tolerance,
                                  failure: "\(error)")
            }
            rows.append(row)
            progress?(row)
        }
        return SelfTestReport(device: subject.name, reference: "float64", rows: rows, seconds: Date().timeIntervalSince(start))
    }
}

/// Inputs as the checks draw them, in Float64.
private func inputs(_ count: Int, stream: UInt64, low: Float? = nil, high: Float? = nil) -> [Double] {
    SelfTestInputs.values(count, stream: stream, low: low, high: high).map(Double.init)
}

private func nans(_ count: Int) -> [Double] { [Double](repeating: .nan, count: count) }

private func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

/// The pixel of a CNHW activation (`images × height × width` per channel) that 3×3 tap
/// `t` of output position `q` reads, or nil outside the image.
private func tapSource(_ channel: Int, _ q: Int, _ t: Int, images: Int, height h: Int, width w: Int) -> Int? {
    let im = q / (h * w), y = (q % (h * w)) / w, x = q % w
    let sy = y + t / 3 - 1, sx = x + t % 3 - 1
    guard sy >= 0 && sy < h && sx >= 0 && sx < w else { return nil }
    return (channel * images + im) * h * w + sy * w + sx
}

extension MemoryCheck {
    public func float64Reference() -> Float64Reference? {
        switch kind {
        case .fill:
            var y = inputs(rows * cols + 9, stream: 7)
            for i in 5..<(5 + rows * cols) { y[i] = 2.5 }
            return Float64Reference([y], as: self)
        case .copy2D:
            let src = inputs(3 + rows * (cols + 4), stream: 8)
            var dst = inputs(1 + rows * (cols + 2), stream: 9)
            for r in 0..<rows { for j in 0..<cols { dst[1 + r * (cols + 2) + j] = src[3 + r * (cols + 4) + j] } }
            return Float64Reference([dst], as: self)
        case .copyStrided:
            let src = inputs(2 + cols * (rows + 2), stream: 10)
            var dst = inputs(3 + rows * (2 * cols + 1), stream: 11)
            for r in 0..<rows { for j in 0..<cols { dst[3 + r * (2 * cols + 1) + 2 * j] = src[2 + r + j * (rows + 2)] } }
            return Float64Reference([dst], as: self)
        }
    }
}

extension GemmCheck {
    /// Normwise 1e-5: Float32 sums of up to a thousand terms against the exact sum.
    public func float64Reference() -> Float64Reference? {
        guard !absoluteInputs else { return nil }
        let lda = (transA ? m : k) + 2, ldb = (transB ? k : n) + 1, ldc = n + 3
        let a = inputs((transA ? k : m) * lda + 5, stream: 1), bv = inputs((transB ? n : k) * ldb + 4, stream: 2)
        var c = inputs(m * ldc + 7, stream: 3)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    s += (transA ? a[5 + p * lda + i] : a[5 + i * lda + p]) * (transB ? bv[4 + j * ldb + p] : bv[4 + p * ldb + j])
                }
                c[7 + i * ldc + j] = 1.25 * s + (beta == 0 ? 0 : Double(beta) * c[7 + i * ldc + j])
            }
        }
        return Float64Reference([c], measure: .normwise, tolerance: 1e-5)
    }
}

extension Im2colCheck {
    public func float64Reference() -> Float64Reference? {
        let p = images * height * width
        let x = inputs(3 + channels * p, stream: 4)
        var columns = [Double](repeating: 0, count: channels * 9 * p)
        for c in 0..<channels { for t in 0..<9 { for q in 0..<p {
            if let s = tapSource(c, q, t, images: images, height: height, width: width) { columns[(c * 9 + t) * p + q] = x[3 + s] }
        } } }
        return Float64Reference([columns], as: self)
    }
}

extension Col2imCheck {
    public func float64Reference() -> Float64Reference? {
        let p = images * height * width
        let columns = inputs(channels * 9 * p, stream: 5)
        var x = inputs(3 + channels * p, stream: 6)
        for c in 0..<channels { for t in 0..<9 { for q in 0..<p {
            if let s = tapSource(c, q, t, images: images, height: height, width: width) { x[3 + s] += columns[(c * 9 + t) * p + q] }
        } } }
        return Float64Reference([x], as: self)
    }
}

extension Conv3x3Check {
    /// A direct convolution in Float64; normwise 1e-5.
    public func float64Reference() -> Float64Reference? {
        guard !absoluteInputs else { return nil }
        let p = images * height * width, (o, c) = (outChannels, inChannels)
        let w = inputs(o * c * 9, stream: 50)
        func each(_ body: (_ oo: Int, _ ch: Int, _ t: Int, _ q: Int, _ s: Int) -> Void) {
            for oo in 0..<o { for ch in 0..<c { for t in 0..<9 { for q in 0..<p {
                if let s = tapSource(ch, q, t, images: images, height: height, width: width) { body(oo, ch, t, q, s) }
            } } } }
        }
        var out: [Double]
        switch kind {
        case .forward:
            let x = inputs(2 + c * p, stream: 51)
            out = nans(3) + [Double](repeating: 0, count: o * p)
            each { oo, ch, t, q, s in out[3 + oo * p + q] += w[(oo * c + ch) * 9 + t] * x[2 + s] }
        case .backwardData:
            let dy = inputs(1 + o * p, stream: 52)
            out = inputs(4 + c * p, stream: 53)
            each { oo, ch, t, q, s in out[4 + s] += w[(oo * c + ch) * 9 + t] * dy[1 + oo * p + q] }
        case .backwardWeights:
            let x = inputs(2 + c * p, stream: 54), dy = inputs(1 + o * p, stream: 55)
            out = [Double](repeating: 0, count: o * c * 9)
            each { oo, ch, t, q, s in out[(oo * c + ch) * 9 + t] += dy[1 + oo * p + q] * x[2 + s] }
        }
        return Float64Reference([out], measure: .normwise, tolerance: 1e-5)
    }
}

extension ChannelAffineCheck {
    public func float64Reference() -> Float64Reference? {
        let x = inputs(2 + rows * cols, stream: 12), bias = inputs(rows, stream: 13), logs = inputs(rows, stream: 14, low: -1, high: 1)
        var y = nans(1 + rows * cols)
        for r in 0..<rows {
            let l = Double(factor) * logs[r]
            for j in 0..<cols {
                let v = x[2 + r * cols + j]
                let f = reverse ? v * Foundation.exp(-l) - bias[r] : (v + bias[r]) * Foundation.exp(l)
                y[1 + r * cols + j] = relu ? max(f, 0) : f
            }
        }
        return Float64Reference([y], as: self)
    }
}

extension BinaryCheck {
    public func float64Reference() -> Float64Reference? {
        let a = inputs(count + 3, stream: 17)
        let b = inputs(count + 2, stream: 19)
        let y = nans(4) + (0..<count).map { i -> Double in
            let (x, z) = (a[3 + i], b[2 + i])
            switch function {
            case .add: return x + z
            case .subtract: return x - z
            case .reluBackward: return x > 0 ? z : 0
            }
        }
        return Float64Reference([y], as: self)
    }
}

extension SqueezeCheck {
    public func float64Reference() -> Float64Reference? {
        let (c, n, h, w) = (channels, images, height, width)
        let x = inputs(c * n * h * w, stream: 21)
        var y = nans(x.count)
        // Input (c, 2i + di, 2j + dj) goes to channel 4c + 2di + dj at (i, j).
        for ch in 0..<c { for im in 0..<n { for yy in 0..<h { for xx in 0..<w {
            let wide = ((ch * n + im) * h + yy) * w + xx
            let squeezed = (((4 * ch + 2 * (yy % 2) + xx % 2) * n + im) * (h / 2) + yy / 2) * (w / 2) + xx / 2
            if inverse { y[wide] = x[squeezed] } else { y[squeezed] = x[wide] }
        } } } }
        return Float64Reference([y], as: self)
    }
}

extension ReductionCheck {
    public func float64Reference() -> Float64Reference? {
        let cols = images * spatial
        let x = inputs(4 + rows * cols, stream: 22)
        let out: [Double]
        switch kind {
        case .rowSums, .rowSumsOfSquares:
            out = (0..<rows).map { r in
                (0..<cols).reduce(0.0) { s, j in let v = x[4 + r * cols + j]; return s + (kind == .rowSums ? v : v * v) }
            }
        case .rowDots:
            let a = inputs(rows * cols, stream: 23), c = inputs(rows * cols, stream: 24)
            out = (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + a[r * cols + $1] * c[r * cols + $1] } }
        case .sampleSums, .sampleSumsAccumulate:
            let base = kind == .sampleSumsAccumulate ? inputs(images, stream: 25) : [Double](repeating: 0, count: images)
            out = (0..<images).map { n in
                var s = base[n]
                for r in 0..<rows { for j in 0..<spatial { s += x[4 + (r * images + n) * spatial + j] } }
                return s
            }
        case .sumOfSquares:
            out = [x.reduce(0.0) { $0 + $1 * $1 }]
        }
        return Float64Reference([out], as: self)
    }
}

extension AffineCouplingCheck {
    public func float64Reference() -> Float64Reference? {
        let x = inputs(2 * half * cols, stream: 26), h = inputs(2 * half * cols, stream: 27)
        var y = x, logScale = nans(half * cols)
        for r in 0..<half { for j in 0..<cols {
            let shift = h[2 * r * cols + j], s = sigmoid(h[(2 * r + 1) * cols + j] + 2), v = x[(half + r) * cols + j]
            y[(half + r) * cols + j] = reverse ? v / s - shift : (v + shift) * s
            logScale[r * cols + j] = Foundation.log(s)
        } }
        return Float64Reference([y, logScale], as: self)
    }
}

extension AffineCouplingBackwardCheck {
    /// The derivatives of `(y2, log s)` written out by the chain rule in their own terms:
    /// `∂y2/∂raw = s(1 − s)(x2 + shift)`, `∂log s/∂raw = 1 − s`.
    public func float64Reference() -> Float64Reference? {
        let n = 2 * half * cols, g = -0.37
        let x = inputs(n, stream: 28), h = inputs(n, stream: 29), dy = inputs(n, stream: 30)
        var dx = nans(n), dh = nans(n)
        for r in 0..<half { for j in 0..<cols {
            let k = (half + r) * cols + j, e = 2 * r * cols + j, o = (2 * r + 1) * cols + j
            let s = sigmoid(h[o] + 2)
            dx[k] = dy[k] * s
            dh[e] = dy[k] * s
            dh[o] = s * (1 - s) * dy[k] * (x[k] + h[e]) + Double(Float(g)) * (1 - s)
        } }
        return Float64Reference([dx, dh], as: self)
    }
}

extension GaussianCheck {
    /// The density and sample from their formulas; the backward pass by central
    /// differences of the Float64 log-density (an independent check of the derivative).
    public func float64Reference() -> Float64Reference? {
        let (meanOffset, logsOffset, rowStride) = interleaved ? (0, cols, 2) : (0, rows * cols, 1)
        let h = inputs(2 * rows * cols, stream: 31, low: -1, high: 1), z = inputs(1 + rows * cols, stream: 32)
        func index(_ i: Int) -> (mean: Int, logs: Int) {
            let r = i / cols, j = i % cols
            return (meanOffset + r * rowStride * cols + j, logsOffset + r * rowStride * cols + j)
        }
        func logN(_ z: Double, _ m: Double, _ l: Double) -> Double {
            let d = (z - m) / Foundation.exp(l)
            return -0.5 * Foundation.log(2 * Double.pi) - l - 0.5 * d * d
        }
        switch kind {
        case .logDensity:
            let out = (0..<(rows * cols)).map { i in logN(z[1 + i], h[index(i).mean], h[index(i).logs]) }
            return Float64Reference([out], as: self)
        case .sample:
            let eps = inputs(rows * cols, stream: 33)
            let out = nans(2) + (0..<(rows * cols)).map { i in
                h[index(i).mean] + Foundation.exp(h[index(i).logs]) * eps[i] * Double(Float(0.7))
            }
            return Float64Reference([out], as: self)
        case .backward:
            let scale = Double(Float(0.8)), step = 1e-6
            var dz = nans(3 + rows * cols), dh = nans(2 * rows * cols)
            for i in 0..<(rows * cols) {
                let (mi, li) = index(i)
                let (zz, m, l) = (z[1 + i], h[mi], h[li])
                dz[3 + i] = scale * (logN(zz + step, m, l) - logN(zz - step, m, l)) / (2 * step)
                dh[mi] = scale * (logN(zz, m + step, l) - logN(zz, m - step, l)) / (2 * step)
                dh[li] = scale * (logN(zz, m, l + step) - logN(zz, m, l - step)) / (2 * step)
            }
            return Float64Reference([dz, dh], as: self)
        }
    }
}

extension RandomCheck {
    /// The Swift Philox4x32-10 (`Philox.array`), which every backend must reproduce: normwise 1e-6.
    public func float64Reference() -> Float64Reference? {
        let values = Philox.array(count: count, distribution: distribution, seed: 0xDEAD_BEEF_1234, stream: 99).map(Double.init)
        return Float64Reference([nans(3) + values + nans(2)], measure: .normwise, tolerance: 1e-6)
    }
}
