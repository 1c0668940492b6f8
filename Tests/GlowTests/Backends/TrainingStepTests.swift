import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// The training step on the device (issue "One step, one wait"): the parameter arena, the
/// LU algebra against Float64, and the step's one host wait counted by the backends'
/// `DeviceCounters` on every backend at hand (CPU, PoCL in both kernel variants through
/// CI's second pass, the CUDA emulator where it runs).
final class TrainingStepTests: XCTestCase {
    /// Random LU factors of `c` channels as Float64 matrices and as the Float32 tensors the
    /// backend takes: P a permutation, L and U entries N(0, 0.3²), log_s N(0, 0.3²).
    func factors(_ c: Int, stream: UInt64) -> (p: Matrix64, l: Matrix64, u: Matrix64, tensors: [[Float]]) {
        let perm = (0..<c).map { ($0 * 5 + 2) % c }
        let cols = Set(perm).count == c ? perm : Array((0..<c).reversed())
        var p = [Float](repeating: 0, count: c * c)
        for i in 0..<c { p[i * c + cols[i]] = 1 }
        let lower = randomValues(c * c, stream: stream).map { 0.3 * $0 }, upper = randomValues(c * c, stream: stream + 1).map { 0.3 * $0 }
        let logS = randomValues(c, stream: stream + 2).map { 0.3 * $0 }, signS: [Float] = (0..<c).map { $0 % 3 == 1 ? -1 : 1 }
        var l = Matrix64.identity(c), u = Matrix64(zeros: c)
        for i in 0..<c {
            for j in 0..<c {
                if j < i { l[i, j] = Double(lower[i * c + j]) }
                if j > i { u[i, j] = Double(upper[i * c + j]) }
            }
            u[i, i] = Double(signS[i]) * Foundation.exp(Double(logS[i]))
        }
        return (try! Matrix64(n: c, values: p.map(Double.init)), l, u, [p, lower, upper, logS, signS])
    }

    /// `luWeight`, `luInverse` and `luBackward` on every backend against Float64 on the host:
    /// W = P·L·Ũ and its inverse (relative 1e-5 and 1e-4: Float32 products of ≤ 13 terms and
    /// triangular solves of a matrix with condition number ~10), and the chain rule
    /// `∂L = strict_lower(Pᵀ∂W Ũᵀ)`, `∂U = strict_upper(Lᵀ Pᵀ∂W)`, `∂log_s = diag(Lᵀ Pᵀ∂W)·Ũᵢᵢ + s`
    /// written out independently here in Float64 (1e-5 normwise).
    func testLUAlgebraAgainstFloat64() throws {
        for b in try TestBackends.all() { for c in [1, 4, 13] { try checkLU(b, c) } }
    }

    func checkLU<B: Backend>(_ b: B, _ c: Int) throws {
        let f = factors(c, stream: UInt64(40 + c))
        let t = try f.tensors.map { try b.makeBuffer($0) }
        let w64 = f.p * f.l * f.u
        let w = try b.allocate(c * c), inv = try b.allocate(c * c)
        try b.luWeight(p: t[0], lower: t[1], upper: t[2], logS: t[3], signS: t[4], channels: c, weight: w)
        try b.luInverse(p: t[0], lower: t[1], upper: t[2], logS: t[3], signS: t[4], channels: c, inverse: inv)
        XCTAssertLessThan(normwiseError(try b.download(w), w64.values), 1e-5, "\(b.name) luWeight \(c)")
        let (inv64, _) = try XCTUnwrap(w64.inverseAndLogAbsDet())
        XCTAssertLessThan(normwiseError(try b.download(inv), inv64.values), 1e-4, "\(b.name) luInverse \(c)")

        let dw = randomValues(c * c, stream: 90)
        let s = -0.25
        var a = [Double](repeating: 0, count: c * c)   // Pᵀ·∂W
        for i in 0..<c { for k in 0..<c { for r in 0..<c { a[i * c + k] += f.p[r, i] * Double(dw[r * c + k]) } } }
        var gl = [Double](repeating: 0, count: c * c), gu = gl, gs = [Double](repeating: 0, count: c)
        for i in 0..<c {
            for j in 0..<c {
                if j < i { for k in 0..<c { gl[i * c + j] += a[i * c + k] * f.u[j, k] } }
                var v = 0.0
                for k in 0..<c { v += f.l[k, i] * a[k * c + j] }
                if j > i { gu[i * c + j] = v }
                if j == i { gs[i] = v * f.u[i, i] + s }
            }
        }
        let bgl = try b.allocate(c * c), bgu = try b.allocate(c * c), bgs = try b.allocate(c)
        try b.luBackward(dw: try b.makeBuffer(dw), p: t[0], lower: t[1], upper: t[2], logS: t[3], signS: t[4], channels: c,
                         logdetScale: Float(s), gLower: bgl, gUpper: bgu, gLogS: bgs)
        XCTAssertLessThan(normwiseError(try b.download(bgl), gl), 1e-5, "\(b.name) ∂lower \(c)")
        XCTAssertLessThan(normwiseError(try b.download(bgu), gu), 1e-5, "\(b.name) ∂upper \(c)")
        XCTAssertLessThan(normwiseError(try b.download(bgs), gs), 1e-5, "\(b.name) ∂log_s \(c)")
    }

    /// Every trainable tensor is a view of the model's arena: a write to the arena shows
    /// through the tensor and its gradient lives at the same offset of the gradient arena.
    func testParametersAreViewsOfTheArena() throws {
        for b in try TestBackends.all() { try checkArena(b) }
    }

    func checkArena<B: Backend>(_ b: B) throws {
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 3)
        let arena = model.arena
        XCTAssertEqual(arena.parameters.count, model.parameters.filter(\.trainable).count)
        for (p, o) in zip(arena.parameters, arena.offsets) {
            XCTAssertEqual(o % max(1, b.viewAlignment), 0, p.name)
            XCTAssertEqual(try b.download(p.value), try b.download(arena.values, offset: o, count: p.count), p.name)
        }
        let p = arena.parameters[3], o = arena.offsets[3]
        try b.fill(arena.values, offset: o, count: p.count, value: 2.5)
        XCTAssertEqual(try b.download(p.value), [Float](repeating: 2.5, count: p.count))
        try b.fill(try p.gradient(), offset: 0, count: p.count, value: -1)
        XCTAssertEqual(try b.download(try arena.gradients(), offset: o, count: p.count), [Float](repeating: -1, count: p.count))
    }

    /// A training step waits on the host exactly once (the step record), whatever the
    /// memory mode, clipping and EMA, transfers nothing else back, and is replayed as one
    /// recorded step where the backend records; the counts are the backends' own
    /// (`DeviceCounters`), not the clock.
    func testATrainingStepWaitsOnce() throws {
        for b in try TestBackends.all() { try checkOneWait(b) }
    }

    func checkOneWait<B: Backend>(_ b: B) throws {
        let set = try IDXReader.load(directory: TrainingTests.mnist, split: "train")
        let data = try ImageTransform.resizeArea(set.subset(Array(0..<64)), to: 8)
        for (memory, clip, ema) in [(MemoryMode.store, nil, nil), (.reversible, 0.5, 0.99)] as [(MemoryMode, Double?, Double?)] {
            let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 2)
            var opt = OptimizerConfig(); opt.clip = clip; opt.ema = ema
            let trainer = try Trainer(model: model, optimizer: opt, data: data, batch: 8, seed: 2, memory: memory)
            try trainer.initialize()
            try trainer.trainStep()
            b.counters.reset()
            var clipped = false
            for _ in 0..<3 {
                let r = try trainer.trainStep()
                XCTAssertFalse(r.skipped)
                if let clip, r.gradientNorm > clip { clipped = true }
            }
            XCTAssertEqual(b.counters.hostWaits, 3, "\(b.name) \(memory): host waits in 3 steps")
            XCTAssertEqual(b.counters.downloads, 3, "\(b.name) \(memory): downloads in 3 steps")
            // Where the backend records steps (PoCL's command buffers, CUDA graphs), the first of
            // the three is recorded (and run once) and the other two replay it.
            XCTAssertEqual(b.counters.graphLaunches, b.recordsWork ? 3 : 0, b.name)
            XCTAssertEqual(trainer.recordedStep != nil, b.recordsWork, b.name)
            if clip != nil { XCTAssert(clipped, "the clip of 0.5 should have acted on the tiny model's gradients") }
            XCTAssertEqual(trainer.optimizer.step, 4)
        }
    }

    /// The record's verdict is the old host-side rule: a step whose loss is finite but
    /// whose gradient is not (a NaN gradient injected through the arena's loss slot) is
    /// skipped with the parameters, moments and step count unchanged.
    func testNonFiniteLossSlotSkipsTheUpdate() throws {
        let b = TestBackends.cpu
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 2)
        let opt = try Optimizer(model, config: OptimizerConfig())
        let record = try StepRecord(b, images: 4)
        let g = try model.arena.gradients()
        try b.fill(g, offset: 0, count: model.arena.count, value: 0.01)
        try b.upload([1, 2, 3, 4], to: record.logdet, offset: 0)
        try b.upload([1, .infinity, 3, 4], to: record.logp, offset: 0)
        try model.arena.markLoss(record)
        let before = try b.download(model.arena.values)
        let scalars = try b.makeBuffer(opt.scalars(learningRate: 1e-3, noise: nil).floats)
        try opt.enqueueUpdate(record: record, scalars: scalars)
        let v = try record.read(b)
        XCTAssertFalse(v.applied)
        XCTAssert(v.norm.isNaN)
        opt.finish(applied: v.applied)
        XCTAssertEqual(opt.step, 0)
        XCTAssertEqual(try b.download(model.arena.values), before)
        // The same with a finite loss applies the update.
        try b.upload([1, 2, 3, 4], to: record.logp, offset: 0)
        try model.arena.markLoss(record)
        try opt.enqueueUpdate(record: record, scalars: scalars)
        let w = try record.read(b)
        XCTAssert(w.applied)
        XCTAssertEqual(Double(w.norm), 0.01 * Double(model.arena.count - 1).squareRoot(), accuracy: 1e-4)   // every float but the loss slot
        XCTAssertNotEqual(try b.download(model.arena.values), before)
    }

    /// `arenaUpdate` with `StepScalars.updateClip` on every backend against Float64 on the
    /// host, for Adam and Adamax: `p − lr·clamp(m̂/(√v̂ + ε), ±cap)` (Adamax `m̂/(u + ε)`),
    /// written out here independently of `StepMath`. The inputs are drawn so that a third or more
    /// of the steps exceed the cap, so a cap that is ignored, or applied to every step, fails;
    /// 1e-5 relative to lr·cap: the Float32 ratio and its clamp differ from Float64 by a few
    /// roundings. Without a cap the same inputs give the plain update.
    func testUpdateClipCapsEachWeightsStep() throws {
        for b in try TestBackends.all() {
            for adamax in [false, true] {
                for cap: Float in [0.3, 0] { try checkUpdateClip(b, adamax: adamax, cap: cap) }
            }
        }
    }

    private func checkUpdateClip<B: Backend>(_ b: B, adamax: Bool, cap: Float) throws {
        let n = 1000, lr: Float = 1e-3, c1: Float = 1.5, c2: Float = 3, b1 = 0.9, b2 = 0.999, eps = 1e-8
        let p0 = randomValues(n, stream: 90), g = randomValues(n, stream: 91)
        let m0 = randomValues(n, stream: 92).map { 0.2 * $0 }, v0 = randomValues(n, stream: 93, low: 0.05, high: 1)
        let p = try b.makeBuffer(p0), m = try b.makeBuffer(m0), v = try b.makeBuffer(v0)
        let record = try b.makeBuffer([0, 1, 1, 0])
        let scalars = try b.makeBuffer(StepScalars(learningRate: lr, correction1: c1, correction2: c2, updateClip: cap).floats)
        try b.arenaUpdate(p, gradients: try b.makeBuffer(g), m: m, v: v, ema: nil, record: record, scalars: scalars,
                          count: n, beta1: Float(b1), beta2: Float(b2), epsilon: Float(eps), adamax: adamax)
        let got = try b.download(p)
        var over = 0
        for i in 0..<n {
            let gi = Double(g[i]), mi = b1 * Double(m0[i]) + (1 - b1) * gi
            let step: Double
            if adamax {
                step = Double(c1) * mi / (max(b2 * Double(v0[i]), abs(gi)) + eps)
            } else {
                let vi = b2 * Double(v0[i]) + (1 - b2) * gi * gi
                step = Double(c1) * mi / ((vi * Double(c2)).squareRoot() + eps)
            }
            if abs(step) > Double(cap) { over += 1 }
            let applied = cap > 0 ? min(max(step, -Double(cap)), Double(cap)) : step
            let want = Double(p0[i]) - Double(lr) * applied
            XCTAssertEqual(Double(got[i]), want, accuracy: 1e-5 * Double(lr) * max(Double(cap), abs(step)) + 1e-7 * abs(want),
                           "\(b.name) \(adamax ? "adamax" : "adam") cap \(cap) weight \(i)")
        }
        // The cap binds for a good share of the weights and leaves the rest: the check can fail both ways.
        if cap > 0 { XCTAssert((n / 10...9 * n / 10).contains(over), "\(over) of \(n) steps over the cap") }
    }

    /// `flipTaps3x3` there and back is the identity, and the tap-major layout holds tap t
    /// of (o, c) at `(o·9 + 8 − t)·C + c`, on every backend.
    func testFlipTapsRoundTrip() throws {
        for b in try TestBackends.all() { try checkFlip(b) }
    }

    func checkFlip<B: Backend>(_ b: B) throws {
        let o = 3, c = 5
        let w = randomValues(o * c * 9, stream: 91)
        let src = try b.makeBuffer(w), taps = try b.allocate(o * c * 9), back = try b.allocate(o * c * 9)
        try b.flipTaps3x3(src, taps, outChannels: o, inChannels: c, toTaps: true)
        try b.flipTaps3x3(taps, back, outChannels: o, inChannels: c, toTaps: false)
        XCTAssertEqual(try b.download(back), w, b.name)
        let t = try b.download(taps)
        for oo in 0..<o { for cc in 0..<c { for tap in 0..<9 {
            XCTAssertEqual(t[(oo * 9 + 8 - tap) * c + cc], w[(oo * c + cc) * 9 + tap], "\(b.name) (\(oo), \(cc), \(tap))")
        } } }
    }

    /// `StepScalars` survive the trip through a float buffer bit for bit, 64-bit seeds and
    /// streams and a 32-bit `first` included (they travel as bit patterns, some of which are
    /// NaNs as floats), and no noise stays no noise.
    func testStepScalarsRoundTrip() throws {
        let noise = DequantizationNoise(seed: 0xFFFF_FFFF_7FC0_0001, stream: 0x8000_0000_FFFF_FFFF, first: 3_000_000_000)
        let s = StepScalars(learningRate: 1.5e-4, correction1: 10, correction2: 1000, clip: 50, noise: noise,
                            skipAbove: 500, emaRate: 0.005, updateClip: 0.75)
        let f = s.floats
        XCTAssertEqual(f.count, StepScalars.count)
        XCTAssertEqual(f.withUnsafeBufferPointer { StepScalars($0.baseAddress!) }, s)
        let none = StepScalars(learningRate: 1)
        XCTAssertNil(none.floats.withUnsafeBufferPointer { StepScalars($0.baseAddress!) }.noise)
        // Through a device buffer of every backend.
        for b in try TestBackends.all() { try checkRoundTrip(b, f) }
    }

    func checkRoundTrip<B: Backend>(_ b: B, _ f: [Float]) throws {
        let back = try b.download(try b.makeBuffer(f))
        XCTAssertEqual(back.map(\.bitPattern), f.map(\.bitPattern), b.name)
    }

    /// The batch's one-launch path into model space (`dequantize`) equals the old three-step
    /// one bit for bit on every backend: `Preprocess.toModel` of the bytes, the CNHW layout,
    /// plus the noise stream's elements `first …` drawn from the whole stream from 0 (what a
    /// rank used to draw and discard).
    func testDequantizeMatchesPreprocessAndTheWholeStream() throws {
        for b in try TestBackends.all() { try checkDequantize(b) }
    }

    func checkDequantize<B: Backend>(_ b: B) throws {
        let (n, c, h, w) = (3, 2, 5, 3), hw = 15, count = 3 * 2 * 15
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
        for (bits, first) in [(8, 7), (3, 0), (5, 123)] {
            let model = try Preprocess.toModel(pixels: bytes, nBits: bits)
            let stream = Philox.array(count: first + count, distribution: .uniform(low: 0, high: 1 / Float(1 << bits)),
                                      seed: 9, stream: 4)
            var want = [Float](repeating: 0, count: count)
            for ch in 0..<c { for img in 0..<n { for s in 0..<hw {
                let i = (ch * n + img) * hw + s
                want[i] = model[(img * c + ch) * hw + s] + stream[first + i]
            } } }
            let x = try b.allocate(count)
            try b.dequantize(try b.makeBuffer(PixelBytes.pack(bytes)), images: n, channels: c, height: h, width: w, nBits: bits,
                             scalars: try b.makeBuffer(StepScalars(noise: DequantizationNoise(seed: 9, stream: 4, first: first)).floats),
                             x: x)
            XCTAssertEqual(try b.download(x), want, "\(b.name) \(bits) bits from \(first)")
            try b.dequantize(try b.makeBuffer(PixelBytes.pack(bytes)), images: n, channels: c, height: h, width: w, nBits: bits,
                             scalars: try b.makeBuffer(StepScalars().floats), x: x)
            let plain = try b.download(x)
            for ch in 0..<c { for img in 0..<n { for s in 0..<hw {
                XCTAssertEqual(plain[(ch * n + img) * hw + s], model[(img * c + ch) * hw + s])
            } } }
        }
    }
}
