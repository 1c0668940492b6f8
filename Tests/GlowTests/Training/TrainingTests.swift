import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Training end to end on the embedded MNIST at 8×8 (the `tiny` configuration).
final class TrainingTests: XCTestCase {
    static let mnist: String = TestPaths.root.appendingPathComponent("data/mnist").path

    func tinyData(split: String, count: Int) throws -> ImageSet {
        let set = try IDXReader.load(directory: TrainingTests.mnist, split: split)
        return try ImageTransform.resizeArea(set.subset(Array(0..<count)), to: 8)
    }

    /// 80 steps of batch 16 lower the test bpd (500 images, fixed noise) by more than 0.5.
    /// Before training the initialised model sits near 4–5 bpd at 8×8; after 80 steps it
    /// is below by well over 0.5 in every run seen (the seed is fixed).
    func testShortRunLowersTestBPD() throws {
        let b = TestBackends.cpu
        let train = try tinyData(split: "train", count: 4000), test = try tinyData(split: "test", count: 500)
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 1)
        var opt = OptimizerConfig(); opt.warmup = 10; opt.learningRate = 2e-3
        let trainer = try Trainer(model: model, optimizer: opt, data: train, batch: 16, seed: 1, memory: .store)
        try trainer.initialize()
        let before = try Evaluation.meanBPD(model, test, batch: 100)
        for _ in 0..<80 { XCTAssertFalse(try trainer.trainStep().skipped) }
        let after = try Evaluation.meanBPD(model, test, batch: 100)
        XCTAssert(before.isFinite && after.isFinite)
        XCTAssertLessThan(after, before - 0.5, "test bpd \(before) → \(after)")
    }

    /// N steps, save, load into a fresh model and trainer, N more steps equals 2N straight:
    /// bitwise on the CPU backend, 1e-6 relative on OpenCL.
    func testResumeIsExact() throws {
        for b in try TestBackends.all() { try checkResume(b) }
    }

    func checkResume<B: Backend>(_ b: B) throws {
        let train = try tinyData(split: "train", count: 300)
        var opt = OptimizerConfig(); opt.warmup = 2; opt.ema = 0.9; opt.clip = 50
        func fresh() throws -> Trainer<B> {
            try Trainer(model: try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 5), optimizer: opt,
                        data: train, batch: 8, seed: 5, memory: .reversible)
        }
        let straight = try fresh()
        try straight.initialize()
        for _ in 0..<6 { try straight.trainStep() }

        let first = try fresh()
        try first.initialize()
        for _ in 0..<3 { try first.trainStep() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-resume-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try first.save(to: dir)
        let model = try Checkpoint.load(dir + "/checkpoint.safetensors", backend: b)
        let resumed = try Trainer(model: model, optimizer: opt, data: train, batch: 8, seed: 5, memory: .reversible)
        try resumed.restore(state: try SafeTensorsFile.read(path: dir + "/training-state.safetensors"), source: "state")
        XCTAssertEqual(resumed.step, 3)
        for _ in 0..<3 { try resumed.trainStep() }
        let isCPU = b is CPUBackend
        for (p, q) in zip(straight.model.parameters, resumed.model.parameters) {
            let u = try b.download(p.value), v = try b.download(q.value)
            if isCPU { XCTAssertEqual(u, v, "\(p.name) differs after resume") }
            else { XCTAssertLessThan(relativeError(v, u), 1e-6, "\(b.name) \(p.name) after resume") }
        }
        if isCPU { XCTAssertEqual(try b.download(straight.optimizer.m), try b.download(resumed.optimizer.m)) }
    }

    /// A non-finite gradient skips the update (parameters unchanged) and repeated ones stop
    /// training with an error; a non-finite model is never checkpointed.
    func testNonFiniteStepsAreSkippedThenStop() throws {
        let b = TestBackends.cpu
        let train = try tinyData(split: "train", count: 64)
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 2)
        let trainer = try Trainer(model: model, optimizer: OptimizerConfig(), data: train, batch: 8, seed: 2, memory: .store)
        try trainer.initialize()
        trainer.maxSkips = 3
        // Poison one coupling weight: every gradient becomes NaN.
        let w = model.levels[0].steps[0].coupling.network.conv2.weight
        var v = try b.download(w.value); v[0] = .nan
        try b.upload(v, to: w.value, offset: 0)
        let other = model.levels[1].steps[0].actnorm.bias
        let before = try b.download(other.value)
        XCTAssertTrue(try trainer.trainStep().skipped)
        XCTAssertEqual(try b.download(other.value), before, "a skipped step must not update")
        XCTAssertTrue(try trainer.trainStep().skipped)
        XCTAssertThrowsError(try trainer.trainStep()) { XCTAssert("\($0)".contains("non-finite")) }
        XCTAssertThrowsError(try Checkpoint.file(model)) { XCTAssert("\($0)".contains("non-finite")) }
    }

    /// The EMA starts from the initialised weights: after ActNorm's data-dependent
    /// initialisation it equals the live weights bit for bit (it used to keep ActNorm's
    /// placeholder scales and biases, and average them in for thousands of steps).
    func testEMAStartsFromTheInitialisedWeights() throws {
        let b = TestBackends.cpu
        var opt = OptimizerConfig(); opt.ema = 0.999
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 3)
        let trainer = try Trainer(model: model, optimizer: opt, data: try tinyData(split: "train", count: 64), batch: 8,
                                  seed: 3, memory: .store)
        let placeholders = try b.download(model.arena.values)
        try trainer.initialize()
        let initialised = try b.download(model.arena.values)
        XCTAssertNotEqual(initialised, placeholders, "ActNorm's initialisation changes the weights")
        let ema = try b.download(trainer.optimizer.ema!)
        XCTAssertEqual(zip(ema, initialised).filter { $0.0.bitPattern != $0.1.bitPattern }.count, 0, "EMA values that differ")
    }

    /// The device's EMA follows the recurrence `e ← d_t·e + (1 − d_t)·w_t` over the weights
    /// after each update, computed here in Float64 from the downloaded weights, with
    /// `d_t = min(0.9, (1 + t)/(10 + t))` under `emaWarmup` (0.1, 0.18, 0.25, … : the rate
    /// reaches the device per step in `StepScalars`) and `d_t = 0.9` without, on every
    /// backend at hand. The two schedules give averages far apart after six steps, so each
    /// check can tell them apart; the tolerance is Float32 rounding of six blends.
    func testEMAFollowsItsDecayScheduleStepByStep() throws {
        for b in try TestBackends.all() {
            for warmup in [true, false] { try emaFollowsSchedule(b, warmup: warmup) }
        }
    }

    private func emaFollowsSchedule<B: Backend>(_ b: B, warmup: Bool) throws {
        var opt = OptimizerConfig(); opt.ema = 0.9; opt.emaWarmup = warmup; opt.learningRate = 1e-2
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 3)
        let trainer = try Trainer(model: model, optimizer: opt, data: try tinyData(split: "train", count: 64), batch: 8,
                                  seed: 3, memory: .store)
        try trainer.initialize()
        var reference = try b.download(model.arena.values).map(Double.init)
        var other = reference   // the other schedule, to show that the check can fail
        for t in 0..<6 {
            XCTAssertFalse(try trainer.trainStep().skipped)
            let grown = min(0.9, Double(1 + t) / Double(10 + t))
            let (d, e) = warmup ? (grown, 0.9) : (0.9, grown)
            let w = try b.download(model.arena.values).map(Double.init)
            for i in w.indices {
                reference[i] = d * reference[i] + (1 - d) * w[i]
                other[i] = e * other[i] + (1 - e) * w[i]
            }
        }
        let ema = try b.download(trainer.optimizer.ema!).map(Double.init)
        let error = zip(ema, reference).map { abs($0 - $1) / max(1, abs($1)) }.max()!
        let apart = zip(other, reference).map { abs($0 - $1) / max(1, abs($1)) }.max()!
        XCTAssertLessThan(error, 1e-5, "\(b.name), warm-up \(warmup)")
        XCTAssertGreaterThan(apart, 1e-3, "the two schedules differ by far more than the tolerance")
    }

    /// With EMA, evaluating after `swapEMA` is evaluating the EMA weights: the same bpd as a
    /// model loaded fresh from those weights (whose W⁻¹, log|det W| and ActNorm sums are
    /// computed from them), and swapping back restores the live model's bpd.
    func testSwapEMAEvaluatesTheEMAWeights() throws {
        let b = TestBackends.cpu
        let train = try tinyData(split: "train", count: 64)
        var opt = OptimizerConfig(); opt.ema = 0.5; opt.learningRate = 1e-2
        let model = try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 3)
        let trainer = try Trainer(model: model, optimizer: opt, data: train, batch: 8, seed: 3, memory: .store)
        try trainer.initialize()
        for _ in 0..<4 { XCTAssertFalse(try trainer.trainStep().skipped) }
        let x = try trainer.input(Array(0..<8), noiseStream: 99)
        let live = try model.encode(x).bpd
        try trainer.optimizer.swapEMA()
        let swapped = try model.encode(x).bpd
        let fresh = try Checkpoint.load(try Checkpoint.file(model), source: "ema weights", backend: b)
        let reference = try fresh.encode(x).bpd
        try trainer.optimizer.swapEMA()
        let back = try model.encode(x).bpd
        XCTAssertGreaterThan(zip(live, reference).map { abs($0 - $1) }.max()!, 1e-4, "EMA and live weights should differ")
        for (s, r) in zip(swapped, reference) { XCTAssertEqual(s, r, accuracy: 1e-9 * abs(r)) }
        XCTAssertEqual(back, live)
    }
}
