import Foundation
@testable import GlowCore

/// A naive Float64 Glow written from docs/glow-spec.md independently of the engine's layers
/// (NCHW loops, no backend, no shared helpers), reading the engine model's parameters by
/// their checkpoint names. Tests compare the engine against it, and its log-determinant
/// against a brute-force Jacobian.
struct ReferenceGlow {
    /// An NCHW Float64 tensor.
    struct T: Equatable {
        var n: Int, c: Int, h: Int, w: Int
        var v: [Double]
        init(n: Int, c: Int, h: Int, w: Int, v: [Double]? = nil) {
            self.n = n; self.c = c; self.h = h; self.w = w
            self.v = v ?? [Double](repeating: 0, count: n * c * h * w)
        }
        subscript(i: Int, ch: Int, y: Int, x: Int) -> Double {
            get { v[((i * c + ch) * h + y) * w + x] }
            set { v[((i * c + ch) * h + y) * w + x] = newValue }
        }
        func channels(_ r: Range<Int>) -> T {
            var o = T(n: n, c: r.count, h: h, w: w)
            for i in 0..<n { for ch in r { for y in 0..<h { for x in 0..<w { o[i, ch - r.lowerBound, y, x] = self[i, ch, y, x] } } } }
            return o
        }
        func channels(stride s: Int, from f: Int) -> T {
            let cnt = (c - f + s - 1) / s
            var o = T(n: n, c: cnt, h: h, w: w)
            for i in 0..<n { for k in 0..<cnt { for y in 0..<h { for x in 0..<w { o[i, k, y, x] = self[i, f + k * s, y, x] } } } }
            return o
        }
        static func concat(_ a: T, _ b: T) -> T {
            var o = T(n: a.n, c: a.c + b.c, h: a.h, w: a.w)
            for i in 0..<a.n { for y in 0..<a.h { for x in 0..<a.w {
                for ch in 0..<a.c { o[i, ch, y, x] = a[i, ch, y, x] }
                for ch in 0..<b.c { o[i, a.c + ch, y, x] = b[i, ch, y, x] }
            } } }
            return o
        }
    }

    let config: GlowConfig
    var p: [String: [Double]]

    init(config: GlowConfig, p: [String: [Double]]) { self.config = config; self.p = p }

    /// The training loss: mean bits per dimension of the batch, plus for class-conditional
    /// models 0.01 · mean cross-entropy / ln 2.
    func loss(_ x: T, labels: [Int]? = nil) -> Double {
        let r = encode(x, labels: labels)
        let d = Double(config.dimension)
        let quant = d * log(Double(1 << config.nBits))
        let obj = zip(r.logp, r.logdet).map { $0 + $1 - quant }
        let bpd = -obj.reduce(0, +) / Double(x.n) / (d * log(2.0))
        return bpd + 0.01 * r.crossEntropy.reduce(0, +) / Double(x.n) / log(2.0)
    }

    init<B>(_ model: Glow<B>) throws {
        config = model.config
        var d: [String: [Double]] = [:]
        for q in model.parameters { d[q.name] = try model.backend.download(q.value).map(Double.init) }
        p = d
    }

    func squeeze(_ x: T) -> T {
        var o = T(n: x.n, c: x.c * 4, h: x.h / 2, w: x.w / 2)
        for i in 0..<x.n { for ch in 0..<x.c { for y in 0..<x.h { for xx in 0..<x.w {
            o[i, ch * 4 + (y % 2) * 2 + xx % 2, y / 2, xx / 2] = x[i, ch, y, xx]
        } } } }
        return o
    }

    func conv3x3(_ x: T, _ wt: [Double], out: Int) -> T {
        var o = T(n: x.n, c: out, h: x.h, w: x.w)
        for i in 0..<x.n { for oc in 0..<out { for y in 0..<x.h { for xx in 0..<x.w {
            var s = 0.0
            for ic in 0..<x.c { for ky in 0..<3 { for kx in 0..<3 {
                let sy = y + ky - 1, sx = xx + kx - 1
                if sy < 0 || sy >= x.h || sx < 0 || sx >= x.w { continue }
                s += wt[((oc * x.c + ic) * 3 + ky) * 3 + kx] * x[i, ic, sy, sx]
            } } }
            o[i, oc, y, xx] = s
        } } } }
        return o
    }

    func conv1x1(_ x: T, _ wt: [Double], out: Int) -> T {
        var o = T(n: x.n, c: out, h: x.h, w: x.w)
        for i in 0..<x.n { for oc in 0..<out { for y in 0..<x.h { for xx in 0..<x.w {
            var s = 0.0
            for ic in 0..<x.c { s += wt[oc * x.c + ic] * x[i, ic, y, xx] }
            o[i, oc, y, xx] = s
        } } } }
        return o
    }

    func affine(_ x: T, bias: [Double], logs: [Double], factor: Double) -> T {
        var o = x
        for i in 0..<x.n { for ch in 0..<x.c { for y in 0..<x.h { for xx in 0..<x.w {
            o[i, ch, y, xx] = (x[i, ch, y, xx] + bias[ch]) * exp(factor * logs[ch])
        } } } }
        return o
    }

    func relu(_ x: T) -> T { var o = x; o.v = x.v.map { max($0, 0) }; return o }

    func convZeros(_ x: T, _ prefix: String, out: Int) -> T {
        affine(conv3x3(x, p[prefix + ".weight"]!, out: out), bias: p[prefix + ".bias"]!, logs: p[prefix + ".logs"]!, factor: 3)
    }

    /// W of a step's 1×1 convolution, from the plain weight or P·L·(U + diag(sign·exp(log_s))).
    func invconvMatrix(_ prefix: String, _ c: Int) -> [Double] {
        if let w = p[prefix + ".weight"] { return w }
        let pm = p[prefix + ".p"]!, lo = p[prefix + ".lower"]!, up = p[prefix + ".upper"]!
        let ls = p[prefix + ".log_s"]!, ss = p[prefix + ".sign_s"]!
        var l = [Double](repeating: 0, count: c * c), u = l, w = l, pl = l
        for i in 0..<c { for j in 0..<c {
            l[i * c + j] = i == j ? 1 : (j < i ? lo[i * c + j] : 0)
            u[i * c + j] = i == j ? ss[i] * exp(ls[i]) : (j > i ? up[i * c + j] : 0)
        } }
        for i in 0..<c { for j in 0..<c { for k in 0..<c { pl[i * c + j] += pm[i * c + k] * l[k * c + j] } } }
        for i in 0..<c { for j in 0..<c { for k in 0..<c { w[i * c + j] += pl[i * c + k] * u[k * c + j] } } }
        return w
    }

    /// log|det| by Gaussian elimination with partial pivoting (the test's own).
    static func logAbsDet(_ m: [Double], _ n: Int) -> Double {
        var a = m, s = 0.0
        for k in 0..<n {
            var piv = k
            for i in k..<n where abs(a[i * n + k]) > abs(a[piv * n + k]) { piv = i }
            if piv != k { for j in 0..<n { a.swapAt(k * n + j, piv * n + j) } }
            let d = a[k * n + k]
            s += log(abs(d))
            for i in (k + 1)..<max(n, k + 1) where i < n {
                let f = a[i * n + k] / d
                for j in k..<n { a[i * n + j] -= f * a[k * n + j] }
            }
        }
        return s
    }

    func gaussian(_ z: T, mean: T, logs: T) -> [Double] {
        var out = [Double](repeating: 0, count: z.n)
        for i in 0..<z.n { for ch in 0..<z.c { for y in 0..<z.h { for x in 0..<z.w {
            let l = logs[i, ch, y, x], d = (z[i, ch, y, x] - mean[i, ch, y, x]) / exp(l)
            out[i] += -0.5 * log(2 * Double.pi) - l - 0.5 * d * d
        } } } }
        return out
    }

    func coupling(_ x: T, _ prefix: String) -> (T, [Double]) {
        let c = x.c, half = c / 2, hid = config.hidden
        let z1 = x.channels(0..<half), z2 = x.channels(half..<c)
        var a = conv3x3(z1, p[prefix + ".conv1.weight"]!, out: hid)
        a = relu(affine(a, bias: p[prefix + ".actnorm1.bias"]!, logs: p[prefix + ".actnorm1.logs"]!, factor: 1))
        a = conv1x1(a, p[prefix + ".conv2.weight"]!, out: hid)
        a = relu(affine(a, bias: p[prefix + ".actnorm2.bias"]!, logs: p[prefix + ".actnorm2.logs"]!, factor: 1))
        var ld = [Double](repeating: 0, count: x.n)
        var y2 = z2
        if config.coupling == .affine {
            let h = convZeros(a, prefix + ".conv_zeros", out: c)
            let shift = h.channels(stride: 2, from: 0), raw = h.channels(stride: 2, from: 1)
            for i in 0..<x.n { for ch in 0..<half { for yy in 0..<x.h { for xx in 0..<x.w {
                let s = 1 / (1 + exp(-(raw[i, ch, yy, xx] + 2)))
                y2[i, ch, yy, xx] = (z2[i, ch, yy, xx] + shift[i, ch, yy, xx]) * s
                ld[i] += log(s)
            } } } }
        } else {
            let h = convZeros(a, prefix + ".conv_zeros", out: half)
            for k in 0..<y2.v.count { y2.v[k] += h.v[k] }
        }
        return (T.concat(z1, y2), ld)
    }

    /// The whole forward: latents z.0 … z.{L-1}, logdet, log p and the classifier's
    /// cross-entropy (class-conditional models) per image.
    func encode(_ x0: T, labels: [Int]? = nil) -> (latents: [T], logdet: [Double], logp: [Double], crossEntropy: [Double]) {
        var x = x0
        var logdet = [Double](repeating: 0, count: x.n), logp = logdet
        var latents: [T] = []
        for i in 0..<config.L {
            x = squeeze(x)
            let c = x.c, hw = Double(x.h * x.w)
            for k in 0..<config.K {
                let pre = "levels.\(i).steps.\(k)"
                let logs = p[pre + ".actnorm.logs"]!
                x = affine(x, bias: p[pre + ".actnorm.bias"]!, logs: logs, factor: 1)
                for n in 0..<x.n { logdet[n] += hw * logs.reduce(0, +) }
                switch config.permutation {
                case .invconv:
                    let w = invconvMatrix(pre + ".invconv", c)
                    x = conv1x1(x, w, out: c)
                    let ld = ReferenceGlow.logAbsDet(w, c)
                    for n in 0..<x.n { logdet[n] += hw * ld }
                case .reverse:
                    x = T.concat(x.channels(0..<0), x)  // copy
                    var r = x
                    for n in 0..<x.n { for ch in 0..<c { for y in 0..<x.h { for xx in 0..<x.w { r[n, ch, y, xx] = x[n, c - 1 - ch, y, xx] } } } }
                    x = r
                case .shuffle:
                    fatalError("reference: shuffle needs the indices; not used in these tests")
                }
                let (y, ld) = coupling(x, pre + ".coupling")
                x = y
                for n in 0..<x.n { logdet[n] += ld[n] }
            }
            if i < config.L - 1 {
                let z1 = x.channels(0..<c / 2), z2 = x.channels(c / 2..<c)
                let h = convZeros(z1, "levels.\(i).split.conv_zeros", out: c)
                let lp = gaussian(z2, mean: h.channels(stride: 2, from: 0), logs: h.channels(stride: 2, from: 1))
                for n in 0..<x.n { logp[n] += lp[n] }
                latents.append(z2)
                x = z1
            }
        }
        latents.append(x)
        let c = x.c
        var h = T(n: x.n, c: 2 * c, h: x.h, w: x.w)
        if config.learnTop { h = convZeros(h, "top.conv_zeros", out: 2 * c) }
        var ce = [Double](repeating: 0, count: x.n)
        if config.classes > 0, let labels {
            let k = config.classes
            let w = p["top.y_embed.weight"]!, b = p["top.y_embed.bias"]!, l = p["top.y_embed.logs"]!
            for n in 0..<x.n { for r in 0..<(2 * c) {
                let e = (w[r * k + labels[n]] + b[r]) * exp(3 * l[r])
                for y in 0..<x.h { for xx in 0..<x.w { h[n, r, y, xx] += e } }
            } }
            let wc = p["top.classifier.weight"]!, bc = p["top.classifier.bias"]!, lc = p["top.classifier.logs"]!
            for n in 0..<x.n {
                var mean = [Double](repeating: 0, count: c)
                for ch in 0..<c { for y in 0..<x.h { for xx in 0..<x.w { mean[ch] += x[n, ch, y, xx] / Double(x.h * x.w) } } }
                let logits = (0..<k).map { j in ((0..<c).reduce(0.0) { $0 + wc[j * c + $1] * mean[$1] } + bc[j]) * exp(3 * lc[j]) }
                let mx = logits.max()!
                ce[n] = -(logits[labels[n]] - mx - log(logits.reduce(0) { $0 + exp($1 - mx) }))
            }
        }
        let lp = gaussian(x, mean: h.channels(0..<c), logs: h.channels(c..<2 * c))
        for n in 0..<x.n { logp[n] += lp[n] }
        return (latents, logdet, logp, ce)
    }
}
