import Foundation
import GlowCore

// The CPU code of every `ElementOp` (their maths and arguments: ElementOp.swift), split
// over the backend's threads by sizes alone, so results do not depend on the thread count.
extension CPUBackend {
    public func run(_ op: ElementOp, _ args: [OpArgument<CPUBuffer>]) throws {
        switch op {
        case .scale:
            let a = try ElementOpArguments(op, args, count: 7)
            let xp = try a.buffer(0).pointer + a.int(1), alpha = try a.float(2), beta = try a.float(3)
            let yp = try a.buffer(4).pointer + a.int(5), count = try a.int(6)
            profile.time(.elementwise) {
                workers.forChunks(count) { r in for i in r { yp[i] = alpha * xp[i] + beta } }
            }
        case .flipTaps3x3:
            let a = try ElementOpArguments(op, args, count: 5)
            let s = try a.buffer(0).pointer, d = try a.buffer(1).pointer
            let c = try a.int(2), toTaps = try a.int(3) != 0, total = try a.int(4)
            try check(c > 0 && total % (9 * c) == 0, "flipTaps3x3 of \(total) floats in rows of 9×\(c)")
            let o = total / (9 * c)
            profile.time(.lowering) {
                workers.run(o, work: total) { oc in
                    for t in 0..<9 {
                        for ci in 0..<c {
                            if toTaps { d[(oc * 9 + t) * c + ci] = s[(oc * c + ci) * 9 + 8 - t] } else {
                                d[(oc * c + ci) * 9 + t] = s[(oc * 9 + 8 - t) * c + ci]
                            }
                        }
                    }
                }
            }
        case .affineCoupling:
            let a = try ElementOpArguments(op, args, count: 8)
            let x = try a.buffer(0).pointer, h = try a.buffer(1).pointer, half = try a.int(2), cols = try a.int(3)
            let reverse = try a.int(4) != 0, y = try a.buffer(5).pointer, logScale = try a.buffer(6).pointer
            profile.time(.elementwise) {
                workers.forChunks(half * cols) { r in (y + r.lowerBound).update(from: x + r.lowerBound, count: r.count) }
                forRows(half, cols) { i, js in
                    let x2 = x + (half + i) * cols, y2 = y + (half + i) * cols
                    let shift = h + (2 * i) * cols, raw = h + (2 * i + 1) * cols
                    let ls = logScale + i * cols
                    for j in js {
                        let s = 1 / (1 + expf(-(raw[j] + 2)))
                        y2[j] = reverse ? x2[j] / s - shift[j] : (x2[j] + shift[j]) * s
                        ls[j] = logf(s)
                    }
                }
            }
        case .gaussianLogDensity:
            let a = try ElementOpArguments(op, args, count: 9)
            let z = try a.buffer(0).pointer + a.int(1), h = try a.buffer(2).pointer, meanOffset = try a.int(3)
            let logsOffset = try a.int(4), rowStride = try a.int(5), cols = try a.int(6), out = try a.buffer(7).pointer
            let rows = try Self.rows(a.int(8), cols, op)
            let halfLog2Pi: Float = 0.91893853320467274178
            profile.time(.elementwise) {
                forRows(rows, cols) { r, js in
                    let zp = z + r * cols, o = out + r * cols
                    let m = h + meanOffset + r * rowStride * cols, l = h + logsOffset + r * rowStride * cols
                    for j in js {
                        let d = (zp[j] - m[j]) * expf(-l[j])
                        o[j] = -halfLog2Pi - l[j] - 0.5 * d * d
                    }
                }
            }
        case .gaussianSample:
            let a = try ElementOpArguments(op, args, count: 10)
            let eps = try a.buffer(0).pointer, h = try a.buffer(1).pointer, meanOffset = try a.int(2), logsOffset = try a.int(3)
            let rowStride = try a.int(4), cols = try a.int(5), temperature = try a.float(6)
            let z = try a.buffer(7).pointer + a.int(8), rows = try Self.rows(a.int(9), cols, op)
            profile.time(.elementwise) {
                forRows(rows, cols) { r, js in
                    let e = eps + r * cols, o = z + r * cols
                    let m = h + meanOffset + r * rowStride * cols, l = h + logsOffset + r * rowStride * cols
                    for j in js { o[j] = m[j] + expf(l[j]) * e[j] * temperature }
                }
            }
        case .gaussianBackward:
            let a = try ElementOpArguments(op, args, count: 12)
            let z = try a.buffer(0).pointer + a.int(1), h = try a.buffer(2).pointer, meanOffset = try a.int(3)
            let logsOffset = try a.int(4), rowStride = try a.int(5), cols = try a.int(6), scale = try a.float(7)
            let dz = try a.buffer(8).pointer + a.int(9), dh = try a.buffer(10).pointer, rows = try Self.rows(a.int(11), cols, op)
            profile.time(.elementwise) {
                forRows(rows, cols) { r, js in
                    let zp = z + r * cols, o = dz + r * cols
                    let mo = meanOffset + r * rowStride * cols, lo = logsOffset + r * rowStride * cols
                    for j in js {
                        let l = h[lo + j]
                        let diff = zp[j] - h[mo + j], e = expf(-2 * l)
                        let g = -scale * diff * e
                        o[j] = g
                        dh[mo + j] = -g
                        dh[lo + j] = scale * (diff * diff * e - 1)
                    }
                }
            }
        }
    }

    /// The rows of `total` work-items in rows of `cols`.
    private static func rows(_ total: Int, _ cols: Int, _ op: ElementOp) throws -> Int {
        guard cols > 0, total >= 0, total % cols == 0 else {
            throw GlowError("cpu backend: \(op.name) of \(total) elements in rows of \(cols)")
        }
        return total / cols
    }
}
