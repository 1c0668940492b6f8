import Foundation
import XCTest
@testable import GlowCPU
@testable import GlowCore
@testable import GlowGPU

/// `--recover`: the policy (`Recovery`), the copy and rollback of weights and optimizer state,
/// and a run with rollbacks that resumes bit for bit.
final class RecoveryTests: XCTestCase {
    /// Copies while the mean is near its best, a rollback after `patience` bad steps to the
    /// last copy, the learning rate halved each time, at most `maxRollbacks`; the state
    /// survives its metadata exactly, and bad metadata names its source.
    func testPolicy() throws {
        var r = Recovery()
        r.window = 2; r.patience = 3; r.snapshotEvery = 2; r.rise = 0.5; r.maxRollbacks = 2
        var actions: [Recovery.Action] = []
        let bpd: [Double] = [5, 4, 3.8, 3.6, 3.5, 3.4, 4.6, 4.8, 4.9, 5.0, 3.3, 3.2, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]
        for (i, b) in bpd.enumerated() { actions.append(r.observe(bpd: b, step: i + 1)) }
        // Copies at even steps while near the best; steps 8–10 are bad (mean > best 3.45 + 0.5).
        XCTAssertEqual(actions[1], .snapshot)
        XCTAssertEqual(actions[5], .snapshot, "step 6, mean 3.45")
        XCTAssertEqual(actions[7], .none, "step 8: the mean 4.7 is too far above its best to copy")
        XCTAssertEqual(actions[8], .rollBack(to: 6), "step 9: the third bad step in a row")
        XCTAssertEqual(actions[11], .snapshot, "step 12: a new best after the rollback")
        XCTAssertEqual(actions[14], .rollBack(to: 12), "step 15")
        XCTAssertEqual(actions.filter { if case .rollBack = $0 { return true } else { return false } }.count, 2, "at most maxRollbacks")
        XCTAssertEqual(r.rollbacks, 2)
        XCTAssertEqual(r.learningRateScale, 0.25)
        var s = Recovery(); s.window = 2
        try s.restore(metadata: r.metadata, source: "state")
        XCTAssertEqual([s.best.bitPattern, s.learningRateScale.bitPattern], [r.best.bitPattern, r.learningRateScale.bitPattern])
        XCTAssertEqual([s.bad, s.rollbacks, s.snapshotStep], [r.bad, r.rollbacks, r.snapshotStep])
        XCTAssertEqual(s.recent, r.recent)
        XCTAssertThrowsError(try s.restore(metadata: "zz,1,2", source: "run/training-state.safetensors")) {
            XCTAssert("\($0)".contains("run/training-state.safetensors: recovery holds"), "\($0)")
        }
    }

    /// A copy taken after step 2 and restored after step 4 brings back the weights, both
    /// moments and the update count exactly, on every backend at hand (`--recover` is on by
    /// default for `mnist`, on whichever device trains it).
    func testRollBackRestoresWeightsAndMoments() throws {
        for b in try TestBackends.all() { try rollBackRestores(b) }
    }

    private func rollBackRestores<B: Backend>(_ b: B) throws {
        let t = try trainer(b, recovery: nil)
        for _ in 0..<2 { try t.trainStep() }
        try t.optimizer.takeSnapshot()
        let (w, m, v, n) = (try b.download(t.model.arena.values), try b.download(t.optimizer.m),
                            try b.download(t.optimizer.v), t.optimizer.step)
        for _ in 0..<2 { try t.trainStep() }
        XCTAssertNotEqual(try b.download(t.model.arena.values), w)
        try t.optimizer.rollBack()
        XCTAssertEqual(try b.download(t.model.arena.values), w)
        XCTAssertEqual(try b.download(t.optimizer.m), m)
        XCTAssertEqual(try b.download(t.optimizer.v), v)
        XCTAssertEqual(t.optimizer.step, n)
    }

    /// With a policy that rolls back at the first rise (window 2, patience 1, copies every
    /// 2 steps), 12 steps straight equal 7 steps, a save (the copy travels in the training
    /// state), a resume and 5 more, bit for bit; at least one rollback happened.
    func testRunWithRollbacksResumesBitwise() throws {
        let cpu = TestBackends.cpu
        var policy = Recovery()
        policy.window = 2; policy.patience = 1; policy.snapshotEvery = 2; policy.rise = 0
        let straight = try trainer(cpu, recovery: policy)
        var rollbacks = 0
        for _ in 0..<12 { if try straight.trainStep().rolledBackTo != nil { rollbacks += 1 } }
        XCTAssertGreaterThan(rollbacks, 0, "the policy rolled back at least once")
        XCTAssertEqual(straight.recovery?.rollbacks, rollbacks)
        XCTAssertEqual(straight.recovery?.learningRateScale, pow(0.5, Double(rollbacks)))

        let first = try trainer(cpu, recovery: policy)
        for _ in 0..<7 { try first.trainStep() }
        let dir = try makeTempDirectory(self).path
        try first.save(to: dir)
        let resumed = try Trainer(model: try Checkpoint.load(dir + "/checkpoint.safetensors", backend: cpu), optimizer: Self.opt,
                                  data: try Self.data(), batch: 8, seed: 7, memory: .store)
        resumed.recovery = policy
        try resumed.restore(state: try SafeTensorsFile.read(path: dir + "/training-state.safetensors"), source: "state")
        XCTAssertEqual(resumed.recovery, first.recovery)
        for _ in 0..<5 { try resumed.trainStep() }
        XCTAssertEqual(try cpu.download(resumed.model.arena.values), try cpu.download(straight.model.arena.values))
        XCTAssertEqual(try cpu.download(resumed.optimizer.v), try cpu.download(straight.optimizer.v))
        XCTAssertEqual(resumed.recovery, straight.recovery)
    }

    /// A run whose policy takes copies but never rolls back is the run without `--recover`,
    /// bit for bit: the copies read the weights and moments and change none of them, which is
    /// why turning it on by default leaves a healthy run as it was.
    func testCopiesWithoutRollbackLeaveTheRunUnchanged() throws {
        let cpu = TestBackends.cpu
        var policy = Recovery()
        policy.window = 2; policy.snapshotEvery = 2; policy.rise = 1e9
        let plain = try trainer(cpu, recovery: nil), copying = try trainer(cpu, recovery: policy)
        for _ in 0..<8 { try plain.trainStep(); try copying.trainStep() }
        XCTAssertEqual(copying.recovery?.snapshotStep, 8, "a copy was taken after step 8")
        XCTAssertEqual(copying.recovery?.rollbacks, 0)
        XCTAssertEqual(try cpu.download(copying.model.arena.values), try cpu.download(plain.model.arena.values))
        XCTAssertEqual(try cpu.download(copying.optimizer.m), try cpu.download(plain.optimizer.m))
        XCTAssertEqual(try cpu.download(copying.optimizer.v), try cpu.download(plain.optimizer.v))
    }

    static var opt: OptimizerConfig { var o = OptimizerConfig(); o.warmup = 2; o.learningRate = 3e-3; return o }

    static func data() throws -> ImageSet {
        try ImageTransform.resizeArea(try IDXReader.load(directory: TrainingTests.mnist, split: "train").subset(Array(0..<200)), to: 8)
    }

    func trainer<B: Backend>(_ b: B, recovery: Recovery?) throws -> Trainer<B> {
        let t = try Trainer(model: try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 7), optimizer: Self.opt,
                            data: try Self.data(), batch: 8, seed: 7, memory: .store)
        t.recovery = recovery
        try t.initialize()
        return t
    }
}

extension CLITests {
    /// `train --recover` turns the policy on (the header says so) and trains as usual.
    func testTrainRecoverFlag() throws {
        let dir = try makeTempDirectory(self)
        let out = dir.appendingPathComponent("run").path
        let r = try runOK(["train", "--config", "tiny", "--steps", "3", "--no-test", "--recover", "--device", "cpu",
                           "--eval-every", "0", "--sample-every", "0", "--out", out])
        XCTAssert(r.stdout.contains("clip auto:2, skip-run 1, recover, memory store"), r.stdout)
        XCTAssertEqual(MetricsRecord.read(path: out + "/metrics.jsonl").map(\.step), [1, 2, 3])
        let state = try SafeTensorsFile.read(path: out + "/training-state.safetensors")
        XCTAssertNotNil(state.metadata["recovery"], "the policy's state travels in the training state")
    }
}
