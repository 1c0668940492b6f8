import Foundation

/// What a backend has done since the last `reset()`, counted with one definition on every
/// backend so `bench --json` compares like with like:
/// - `launches`: kernels enqueued (kernels.cl on OpenCL and CUDA; the CPU backend runs no
///   kernels and counts none);
/// - `libraryCalls`: GEMMs through a vendor library (cuBLAS, OpenBLAS);
/// - `hostWaits`: times the host waited for the device (a blocking read, `synchronize`; on
///   the CPU backend every download, the point where a device would make the host wait);
/// - `uploads` and `downloads`: host↔device copies (an upload that does not wait is not a
///   host wait);
/// - `graphLaunches`: replays of a recorded step (CUDA Graphs; 0 elsewhere).
public final class DeviceCounters: @unchecked Sendable {
    /// Kernels enqueued.
    public var launches = 0
    /// GEMMs through a vendor library.
    public var libraryCalls = 0
    /// Waits of the host on the device.
    public var hostWaits = 0
    /// Host → device copies.
    public var uploads = 0
    /// Device → host copies.
    public var downloads = 0
    /// Recorded-graph replays.
    public var graphLaunches = 0
    /// Launches per kernel name, for finding what to fuse.
    public var byKernel: [String: Int] = [:]
    /// Zero counters.
    public init() {}
    /// Sets every count to zero.
    public func reset() {
        launches = 0; libraryCalls = 0; hostWaits = 0; uploads = 0; downloads = 0; graphLaunches = 0; byKernel = [:]
    }
}

/// Where `Backend.dequantize` takes its noise: element `first + i` of Philox (`seed`, `stream`)
/// for CNHW element i.
public struct DequantizationNoise: Sendable, Equatable {
    /// The Philox key and stream.
    public var seed: UInt64, stream: UInt64
    /// The stream element of the batch's first value (a rank's slice starts past the others').
    public var first: Int
    /// Noise from element `first` of (`seed`, `stream`).
    public init(seed: UInt64, stream: UInt64, first: Int) { self.seed = seed; self.stream = stream; self.first = first }
}

/// Pixel bytes packed four to a float (little-endian), the form `Backend.dequantize` reads:
/// a quarter of the floats' upload.
public enum PixelBytes {
    /// `bytes` as `⌈count/4⌉` floats holding them bit for bit.
    public static func pack(_ bytes: [UInt8]) -> [Float] {
        var out = [Float](repeating: 0, count: (bytes.count + 3) / 4)
        out.withUnsafeMutableBytes { o in bytes.withUnsafeBytes { o.copyMemory(from: $0) } }
        return out
    }
}

/// The values of one training step that change from step to step, in a small device buffer
/// that `dequantize`, `stepDecide` and `arenaUpdate` read (rather than taking them as
/// arguments), so that a recorded step (`Backend.record`) replays with new values: the host
/// uploads `floats` before each step. Integers are stored as their 32-bit patterns.
///
/// | slot | value |
/// |---|---|
/// | 0 | learning rate |
/// | 1, 2 | Adam's bias corrections `1/(1−β1^t)`, `1/(1−β2^t)` of update t |
/// | 3 | global-norm clipping threshold (≤ 0: none) |
/// | 4 | 1 when `dequantize` adds noise, else 0 |
/// | 5, 6 | the noise's Philox seed, low and high 32 bits |
/// | 7, 8 | its stream, low and high 32 bits |
/// | 9 | the stream element of the batch's first value (`DequantizationNoise.first`) |
/// | 10 | skip the update when the gradient norm is above this (≤ 0: only non-finite norms skip) |
/// | 11 | the EMA's rate, 1 − the step's decay (0: no EMA) |
/// | 12 | cap on each weight's step before the learning rate, \|m̂/(√v̂ + ε)\| (≤ 0: none) |
public struct StepScalars: Sendable, Equatable {
    /// Floats a step-scalars buffer holds.
    public static let count = 13
    /// The learning rate of the update.
    public var learningRate: Float = 0
    /// Bias corrections of Adam's moments (1 for none).
    public var correction1: Float = 1, correction2: Float = 1
    /// Clip the global gradient norm to this (≤ 0: no clipping).
    public var clip: Float = 0
    /// The dequantisation noise (nil: none).
    public var noise: DequantizationNoise?
    /// Skip the update when the gradient norm is above this (≤ 0: only a non-finite norm skips).
    public var skipAbove: Float = 0
    /// The EMA's step `ema += emaRate · (parameters − ema)`, 1 − the step's decay (0: none).
    public var emaRate: Float = 0
    /// Cap on each weight's step before the learning rate: Adam's `|m̂/(√v̂ + ε)|`, Adamax's
    /// `|m̂/(u + ε)|` (≤ 0: none; `OptimizerConfig.updateClip`).
    public var updateClip: Float = 0

    /// Scalars with the given values.
    public init(learningRate: Float = 0, correction1: Float = 1, correction2: Float = 1, clip: Float = 0,
                noise: DequantizationNoise? = nil, skipAbove: Float = 0, emaRate: Float = 0, updateClip: Float = 0) {
        self.learningRate = learningRate; self.correction1 = correction1; self.correction2 = correction2
        self.clip = clip; self.noise = noise; self.skipAbove = skipAbove; self.emaRate = emaRate
        self.updateClip = updateClip
    }

    /// The buffer's contents.
    public var floats: [Float] {
        func bits(_ v: UInt32) -> Float { Float(bitPattern: v) }
        let n = noise ?? DequantizationNoise(seed: 0, stream: 0, first: 0)
        return [learningRate, correction1, correction2, clip, noise == nil ? 0 : 1,
                bits(UInt32(truncatingIfNeeded: n.seed)), bits(UInt32(truncatingIfNeeded: n.seed >> 32)),
                bits(UInt32(truncatingIfNeeded: n.stream)), bits(UInt32(truncatingIfNeeded: n.stream >> 32)),
                bits(UInt32(truncatingIfNeeded: n.first)), skipAbove, emaRate, updateClip]
    }

    /// The scalars a buffer's `floats` hold.
    public init(_ s: UnsafePointer<Float>) {
        func u(_ i: Int) -> UInt64 { UInt64(s[i].bitPattern) }
        self.init(learningRate: s[0], correction1: s[1], correction2: s[2], clip: s[3],
                  noise: s[4] == 0 ? nil : DequantizationNoise(seed: u(5) | u(6) << 32, stream: u(7) | u(8) << 32,
                                                               first: Int(s[9].bitPattern)),
                  skipAbove: s[10], emaRate: s[11], updateClip: s[12])
    }
}

/// Work a backend recorded for replay (`Backend.record`): a CUDA graph and the buffers it
/// uses, released with it.
public protocol RecordedWork: AnyObject {
    /// Kernel launches and library calls the recording holds.
    var operations: Int { get }
}

/// Why a backend could not record work: the host had to wait for the device or copy to it
/// inside `Backend.record`'s body (`call` names the operation).
public struct RecordingUnsupported: Error, CustomStringConvertible {
    /// The operation that cannot be recorded, e.g. "download of 12 floats".
    public let call: String
    /// An error for `call`.
    public init(_ call: String) { self.call = call }
    public var description: String { "\(call) inside a recorded step: the step cannot be replayed as one graph" }
}

/// The arithmetic of the training-step operations (`addScaledSum`, `luWeight`,
/// `luInverse`, `luBackward`, `stepDecide`, `arenaUpdate`) on host memory: what the CPU
/// backend runs, and what any other backend without its own version runs through a
/// download and an upload. kernels.cl's kernels of the same names compute the same
/// expressions in the same order; the tests check both against Float64 (`Matrix64`).
public enum StepMath {
    /// `out[i] += scale · Σ_j x[j]`, `i < outCount`.
    public static func addScaledSum(_ x: UnsafePointer<Float>, count: Int, scale: Float,
                                    out: UnsafeMutablePointer<Float>, outCount: Int) {
        var s: Float = 0
        for j in 0..<count { s += x[j] }
        for i in 0..<outCount { out[i] += scale * s }
    }

    /// `Ũ[k, j]`: the strict upper part of `upper`, `signS[k]·exp(logS[k])` on the diagonal.
    @inline(__always)
    static func u(_ upper: UnsafePointer<Float>, _ logS: UnsafePointer<Float>, _ signS: UnsafePointer<Float>,
                  _ c: Int, _ k: Int, _ j: Int) -> Float {
        k == j ? signS[k] * Foundation.exp(logS[k]) : upper[k * c + j]
    }

    /// `W = P · L · Ũ` (see `Backend.luWeight`).
    public static func luWeight(p: UnsafePointer<Float>, lower: UnsafePointer<Float>, upper: UnsafePointer<Float>,
                                logS: UnsafePointer<Float>, signS: UnsafePointer<Float>, channels c: Int,
                                weight w: UnsafeMutablePointer<Float>) {
        for i in 0..<c {
            for j in 0..<c {
                var acc: Float = 0
                for r in 0..<c {
                    let pr = p[i * c + r]
                    if pr == 0 { continue }
                    var s: Float = 0
                    for k in 0...min(r, j) { s += (k == r ? 1 : lower[r * c + k]) * u(upper, logS, signS, c, k, j) }
                    acc += pr * s
                }
                w[i * c + j] = acc
            }
        }
    }

    /// `W⁻¹` column by column: `L·y = Pᵀ·e_j` forward, then `Ũ·x = y` backward.
    public static func luInverse(p: UnsafePointer<Float>, lower: UnsafePointer<Float>, upper: UnsafePointer<Float>,
                                 logS: UnsafePointer<Float>, signS: UnsafePointer<Float>, channels c: Int,
                                 inverse inv: UnsafeMutablePointer<Float>) {
        for j in 0..<c {
            for i in 0..<c {
                var s = p[j * c + i]
                for k in 0..<i { s -= lower[i * c + k] * inv[k * c + j] }
                inv[i * c + j] = s
            }
            for i in stride(from: c - 1, through: 0, by: -1) {
                var s = inv[i * c + j]
                for k in (i + 1)..<c { s -= upper[i * c + k] * inv[k * c + j] }
                inv[i * c + j] = s / (signS[i] * Foundation.exp(logS[i]))
            }
        }
    }

    /// The chain rule from ∂W to the LU factors (see `Backend.luBackward`).
    public static func luBackward(dw: UnsafePointer<Float>, p: UnsafePointer<Float>, lower: UnsafePointer<Float>,
                                  upper: UnsafePointer<Float>, logS: UnsafePointer<Float>, signS: UnsafePointer<Float>,
                                  channels c: Int, logdetScale: Float, gLower: UnsafeMutablePointer<Float>,
                                  gUpper: UnsafeMutablePointer<Float>, gLogS: UnsafeMutablePointer<Float>) {
        // (Pᵀ·∂W)[i, k], summed over P's non-zeros in increasing r as the kernel does.
        func ptdw(_ i: Int, _ k: Int) -> Float {
            var a: Float = 0
            for r in 0..<c where p[r * c + i] != 0 { a += p[r * c + i] * dw[r * c + k] }
            return a
        }
        for i in 0..<c {
            for j in 0..<c {
                var s: Float = 0
                if j < i {
                    for k in j..<c { s += ptdw(i, k) * u(upper, logS, signS, c, j, k) }
                    gLower[i * c + j] = s; gUpper[i * c + j] = 0
                } else {
                    for k in i..<c { s += (k == i ? 1 : lower[k * c + i]) * ptdw(k, j) }
                    gLower[i * c + j] = 0
                    gUpper[i * c + j] = j > i ? s : 0
                    if j == i { gLogS[i] = s * signS[i] * Foundation.exp(logS[i]) + logdetScale }
                }
            }
        }
    }

    /// `Backend.dequantize` on host memory: `pixels` the NCHW bytes, `x` the CNHW output.
    public static func dequantize(_ pixels: UnsafePointer<UInt8>, images n: Int, channels c: Int, spatial hw: Int, nBits: Int,
                                  noise: DequantizationNoise?, x: UnsafeMutablePointer<Float>) {
        let shift = UInt8(8 - nBits), scale = 1 / Float(1 << nBits)
        // CNHW element i is visited in order, so each Philox block of the noise is drawn once.
        var block = -1, words: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        var i = 0
        for ch in 0..<c {
            for img in 0..<n {
                for s in 0..<hw {
                    var v = Float(pixels[(img * c + ch) * hw + s] >> shift) * scale - 0.5
                    if let noise {
                        let e = noise.first + i
                        if e >> 2 != block {
                            block = e >> 2
                            words = Philox.block(seed: noise.seed, stream: noise.stream, block: UInt64(block))
                        }
                        let k = e & 3
                        let w = k == 0 ? words.0 : k == 1 ? words.1 : k == 2 ? words.2 : words.3
                        v = v + (0 + scale * Philox.unit(w))
                    }
                    x[i] = v
                    i += 1
                }
            }
        }
    }

    /// The step decision from `record[0]` = Σ g² and the threshold `scalars[3]` (see `Backend.stepDecide`).
    public static func stepDecide(record: UnsafeMutablePointer<Float>, scalars: UnsafePointer<Float>) {
        let clip = scalars[3], skip = scalars[10]
        let norm = record[0].squareRoot()
        let ok = norm <= Float.greatestFiniteMagnitude && (skip <= 0 || norm <= skip)
        record[3] = norm
        record[2] = ok ? 1 : 0
        record[1] = ok && clip > 0 && norm > clip ? clip / norm : 1
    }

    /// Adam / Adamax over `count` floats with the gradients scaled by `record[1]`, nothing
    /// changed when `record[2]` is 0, then the EMA when there is one; the learning rate, the
    /// bias corrections and the EMA's rate from `scalars` (see `Backend.arenaUpdate`, `StepScalars`).
    public static func arenaUpdate(_ p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                                   m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                                   ema: UnsafeMutablePointer<Float>?, record: UnsafePointer<Float>,
                                   scalars: UnsafePointer<Float>, range: Range<Int>, beta1 b1: Float, beta2 b2: Float,
                                   epsilon eps: Float, adamax: Bool) {
        guard record[2] != 0 else { return }
        let lr = scalars[0], c1 = scalars[1], c2 = scalars[2], emaRate = scalars[11], cap = scalars[12]
        let scale = record[1]
        for i in range {
            let gi = g[i] * scale
            let mi = b1 * m[i] + (1 - b1) * gi
            m[i] = mi
            var pi = p[i]
            if adamax {
                let u = max(b2 * v[i], abs(gi))
                v[i] = u
                if cap > 0 {
                    pi -= lr * min(max(c1 * mi / (u + eps), -cap), cap)
                } else {
                    pi -= lr * c1 * mi / (u + eps)
                }
            } else {
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                v[i] = vi
                if cap > 0 {
                    pi -= lr * min(max((mi * c1) / ((vi * c2).squareRoot() + eps), -cap), cap)
                } else {
                    pi -= lr * (mi * c1) / ((vi * c2).squareRoot() + eps)
                }
            }
            p[i] = pi
            if let ema {
                let e = ema[i]
                ema[i] = e + emaRate * (pi - e)
            }
        }
    }
}

extension Backend {
    /// Backends that cannot replay work say so.
    public var recordsWork: Bool { false }

    /// Backends that cannot replay work just enqueue it.
    public func record(_ body: () throws -> Void) throws -> RecordedWork? {
        try body()
        return nil
    }

    public func replay(_ work: RecordedWork) throws {
        throw GlowError("\(type(of: self)) cannot replay recorded work")
    }

    /// The default `channelAffineBackward`: the ReLU mask, the affine map of `dy` (a zero
    /// bias), a row sum, a row dot and, unless it changes nothing, a scale.
    public func channelAffineBackward(dy dyIn: Buffer, y: Buffer, logs: Buffer, factor: Float, rows: Int, cols: Int,
                                      logsConstant: Float, relu: Bool, dx: Buffer, gradBias: Buffer, gradLogs: Buffer) throws {
        var dy = dyIn
        if relu {
            dy = try allocate(rows * cols)
            try binary(.reluBackward, y, aOffset: 0, dyIn, bOffset: 0, y: dy, yOffset: 0, count: rows * cols)
        } else if dx === dyIn {
            dy = try allocate(rows * cols)   // the map below overwrites dx, and the dot still needs dy
            try copy2D(dyIn, srcOffset: 0, srcStride: 0, dy, dstOffset: 0, dstStride: 0, rows: 1, cols: rows * cols)
        }
        let zero = try zeros(rows)
        try channelAffine(dy, xOffset: 0, rows: rows, cols: cols, bias: zero, logs: logs, factor: factor, reverse: false,
                          y: dx, yOffset: 0)
        try rowSums(dx, xOffset: 0, rows: rows, cols: cols, squares: false, out: gradBias)
        try rowDots(dy, y, rows: rows, cols: cols, out: gradLogs)
        if factor != 1 || logsConstant != 0 {
            try scale(gradLogs, xOffset: 0, alpha: factor, beta: logsConstant, y: gradLogs, yOffset: 0, count: rows)
        }
    }

    /// Runs `body` on host copies of `inputs` and `outputs` (downloaded, then the outputs
    /// uploaded): the default of the training-step operations for a backend without its own.
    func onHost(_ inputs: [(Buffer, Int)], _ outputs: [(Buffer, Int)],
                _ body: ([UnsafePointer<Float>], [UnsafeMutablePointer<Float>]) -> Void) throws {
        let pointers = try (inputs + outputs).map { b, n -> UnsafeMutablePointer<Float> in
            let q = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            if n > 0 { try download(b, offset: 0, count: n, into: q) }
            return q
        }
        defer { pointers.forEach { $0.deallocate() } }
        body(pointers.prefix(inputs.count).map { UnsafePointer($0) }, Array(pointers.suffix(outputs.count)))
        for (o, q) in zip(outputs, pointers.suffix(outputs.count)) { try upload(from: q, count: o.1, to: o.0, offset: 0) }
    }

    public func addScaledSum(_ x: Buffer, xOffset: Int, count: Int, scale: Float, out: Buffer, outOffset: Int, outCount: Int) throws {
        let xs = try download(x, offset: xOffset, count: count)
        var o = try download(out, offset: outOffset, count: outCount)
        xs.withUnsafeBufferPointer { xp in
            o.withUnsafeMutableBufferPointer { StepMath.addScaledSum(xp.baseAddress!, count: count, scale: scale, out: $0.baseAddress!, outCount: outCount) }
        }
        try upload(o, to: out, offset: outOffset)
    }

    public func luWeight(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels c: Int, weight: Buffer) throws {
        try onHost([(p, c * c), (lower, c * c), (upper, c * c), (logS, c), (signS, c)], [(weight, c * c)]) { i, o in
            StepMath.luWeight(p: i[0], lower: i[1], upper: i[2], logS: i[3], signS: i[4], channels: c, weight: o[0])
        }
    }

    public func luInverse(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels c: Int, inverse: Buffer) throws {
        try onHost([(p, c * c), (lower, c * c), (upper, c * c), (logS, c), (signS, c)], [(inverse, c * c)]) { i, o in
            StepMath.luInverse(p: i[0], lower: i[1], upper: i[2], logS: i[3], signS: i[4], channels: c, inverse: o[0])
        }
    }

    public func luBackward(dw: Buffer, p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels c: Int,
                           logdetScale: Float, gLower: Buffer, gUpper: Buffer, gLogS: Buffer) throws {
        try onHost([(dw, c * c), (p, c * c), (lower, c * c), (upper, c * c), (logS, c), (signS, c)],
                   [(gLower, c * c), (gUpper, c * c), (gLogS, c)]) { i, o in
            StepMath.luBackward(dw: i[0], p: i[1], lower: i[2], upper: i[3], logS: i[4], signS: i[5], channels: c,
                                logdetScale: logdetScale, gLower: o[0], gUpper: o[1], gLogS: o[2])
        }
    }

    public func dequantize(_ pixels: Buffer, images: Int, channels: Int, height: Int, width: Int, nBits: Int,
                           scalars: Buffer, x: Buffer) throws {
        let count = images * channels * height * width
        let packed = try download(pixels, offset: 0, count: (count + 3) / 4)
        let noise = try download(scalars, offset: 0, count: StepScalars.count).withUnsafeBufferPointer { StepScalars($0.baseAddress!).noise }
        var out = [Float](repeating: 0, count: count)
        packed.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer {
                StepMath.dequantize(raw.bindMemory(to: UInt8.self).baseAddress!, images: images, channels: channels,
                                    spatial: height * width, nBits: nBits, noise: noise, x: $0.baseAddress!)
            }
        }
        try upload(out, to: x, offset: 0)
    }

    public func stepDecide(record: Buffer, scalars: Buffer) throws {
        try onHost([(scalars, StepScalars.count)], [(record, StepRecord<Self>.fixedSlots)]) { i, o in
            StepMath.stepDecide(record: o[0], scalars: i[0])
        }
    }

    public func arenaUpdate(_ parameters: Buffer, gradients: Buffer, m: Buffer, v: Buffer, ema: Buffer?, record: Buffer,
                            scalars: Buffer, count: Int, beta1: Float, beta2: Float, epsilon: Float, adamax: Bool) throws {
        var outs = [(parameters, count), (m, count), (v, count)]
        if let ema { outs.append((ema, count)) }
        try onHost([(gradients, count), (record, StepRecord<Self>.fixedSlots), (scalars, StepScalars.count)], outs) { i, o in
            StepMath.arenaUpdate(o[0], gradients: i[0], m: o[1], v: o[2], ema: o.count > 3 ? o[3] : nil, record: i[1],
                                 scalars: i[2], range: 0..<count, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                 adamax: adamax)
        }
    }
}
