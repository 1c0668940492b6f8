import Foundation
import XCTest
@testable import GlowCPU
@testable import GlowCore
@testable import GlowGPU

/// `--clip auto`: the thresholds from the recent gradient norms (`SpikeGuard`), the skip
/// decided on the device (`stepDecide` with `StepScalars.skipAbove`), and a trainer that
/// skips an injected explosion, clips from the median and resumes bitwise.
final class SpikeGuardTests: XCTestCase {
    /// The thresholds are off until ten norms are known, then 2× and 20× the median of at most
    /// the last 100 finite norms; the state survives its metadata bit for bit; bad metadata is
    /// an error naming its source.
    func testThresholdsFollowTheMedianOfRecentNorms() throws {
        var g = SpikeGuard()
        for n in 1...9 { g.add(norm: Float(n)) }
        XCTAssertEqual(g.thresholds.clip, 0)
        XCTAssertEqual(g.thresholds.skip, 0)
        g.add(norm: .nan)
        g.add(norm: .infinity)
        XCTAssertEqual(g.recent.count, 9, "non-finite norms are left out")
        g.add(norm: 10)
        XCTAssertEqual(g.median, 5.5)
        XCTAssertEqual(g.thresholds.clip, 11)
        XCTAssertEqual(g.thresholds.skip, 110)
        for n in 0..<150 { g.add(norm: 100 + Float(n) * 0.1) }
        XCTAssertEqual(g.recent.count, 100)
        XCTAssertEqual(g.recent.first, 100 + 50 * 0.1, "the oldest go first")
        let sorted = g.recent.sorted()
        XCTAssertEqual(g.median, (sorted[49] + sorted[50]) / 2)
        var h = SpikeGuard()
        try h.restore(metadata: g.metadata, source: "state")
        XCTAssertEqual(h.recent.map(\.bitPattern), g.recent.map(\.bitPattern))
        XCTAssertThrowsError(try h.restore(metadata: "3f800000,zz", source: "run/training-state.safetensors")) {
            XCTAssert("\($0)".contains("run/training-state.safetensors: spike_guard holds \"zz\""), "\($0)")
        }
        XCTAssertThrowsError(try h.restore(metadata: "7fc00000", source: "s"), "a NaN norm is not a state")
        try h.restore(metadata: "", source: "s")
        XCTAssertEqual(h.recent, [])
    }

    /// `skipRun`: after that many steps skipped in a row for their norm the skip threshold is
    /// off (the clip stays), and the first applied step turns it back on; the count travels in
    /// the metadata, and metadata without it (older states) reads as none.
    func testSkipRunTurnsTheSkipOffAfterThatManySkipsInARow() throws {
        var g = SpikeGuard(); g.skipRun = 2
        for _ in 0..<10 { g.add(norm: 1) }
        XCTAssertEqual(g.thresholds.skip, 20)
        g.add(norm: 100, skipped: true)
        XCTAssertEqual(g.thresholds.skip, 20, "one skip in a row")
        g.add(norm: 100, skipped: true)
        XCTAssertEqual(g.skipsInARow, 2)
        XCTAssertEqual(g.thresholds.skip, 0, "two in a row: the next is clipped, not skipped")
        XCTAssertEqual(g.thresholds.clip, 2)
        var h = SpikeGuard(); h.skipRun = 2
        try h.restore(metadata: g.metadata, source: "state")
        XCTAssertEqual(h, g)
        XCTAssertTrue(g.metadata.hasSuffix(";2"), g.metadata)
        g.add(norm: .nan, skipped: true)
        XCTAssertEqual(g.skipsInARow, 2, "a step skipped for a non-finite norm does not count")
        g.add(norm: 100, skipped: false)
        XCTAssertEqual(g.skipsInARow, 0)
        XCTAssertGreaterThan(g.thresholds.skip, 0, "an applied step turns the skip back on")
        try h.restore(metadata: "3f800000", source: "old")
        XCTAssertEqual(h.skipsInARow, 0)
        XCTAssertThrowsError(try h.restore(metadata: "3f800000;x", source: "run/training-state.safetensors")) {
            XCTAssert("\($0)".contains("spike_guard ends in \";x\""), "\($0)")
        }
    }

    /// A trainer under `--clip auto` meeting four spiked steps in a row (norms 1,000 times
    /// their own, steps 12–15): without a limit it skips all four; with `skipRun` 2 it skips
    /// two, clips the third (applied, no skip threshold) and skips the fourth.
    func testTrainerClipsAfterSkipRunSkipsInARow() throws {
        let cpu = TestBackends.cpu
        let train = try ImageTransform.resizeArea(try IDXReader.load(directory: TrainingTests.mnist, split: "train")
            .subset(Array(0..<200)), to: 8)
        for skipRun in [nil, 2] as [Int?] {
            var opt = OptimizerConfig(); opt.warmup = 2; opt.adaptiveClip = true; opt.skipRun = skipRun
            let t = try Trainer(model: try Glow(config: try GlowConfig.named("tiny"), backend: FaultyBackend(cpu, fault: .normSpikeRun),
                                                seed: 7), optimizer: opt, data: train, batch: 8, seed: 7, memory: .store)
            try t.initialize()
            var skipped: [Int] = [], clipped: [Int] = []
            for s in 0..<18 {
                let r = try t.trainStep()
                if r.skipped { skipped.append(s) }
                if r.clipped { clipped.append(s) }
                if skipRun != nil && s == 14 { XCTAssertNil(r.skipThreshold, "the third spiked step cannot be skipped") }
            }
            let first = FaultyBackend<CPUBackend>.spikeCall - 1
            if skipRun == nil {
                XCTAssertEqual(skipped, Array(first..<first + 4))
            } else {
                XCTAssertEqual(skipped, [first, first + 1, first + 3])
                XCTAssertTrue(clipped.contains(first + 2), "\(clipped)")
            }
        }
    }

    /// On every backend, a norm above the skip threshold skips the step like a non-finite one,
    /// one below it is clipped as before.
    func testStepDecideSkipsAboveTheThreshold() throws {
        for b in try TestBackends.all() { try checkSkip(b) }
    }

    func checkSkip<B: Backend>(_ b: B) throws {
        for (skip, applied, factor) in [(Float(8), Float(0), Float(1)), (20, 1, 0.5), (0, 1, 0.5)] {
            let record = try b.makeBuffer([100, .nan, .nan, .nan])
            try b.stepDecide(record: record, scalars: try b.makeBuffer(StepScalars(clip: 5, skipAbove: skip).floats))
            let r = try b.download(record)
            XCTAssertEqual(r[3], 10, b.name)
            XCTAssertEqual(r[2], applied, "\(b.name) skip above \(skip)")
            XCTAssertEqual(r[1], factor, "\(b.name) skip above \(skip)")
        }
    }

    /// With `--clip auto` on the CPU backend: each step's threshold is 2× the median of the
    /// norms before it (from the eleventh step on); a norm 1000× the step's own, injected into
    /// the 13th step's decision, skips that step and leaves the weights and moments as they
    /// were, and training goes on; a run saved at step 8 and resumed equals the straight run
    /// bit for bit (the guard's norms travel in the training state).
    func testAutoClipSkipsAnInjectedExplosionAndResumesBitwise() throws {
        let cpu = TestBackends.cpu
        let train = try ImageTransform.resizeArea(try IDXReader.load(directory: TrainingTests.mnist, split: "train")
            .subset(Array(0..<200)), to: 8)
        var opt = OptimizerConfig(); opt.warmup = 2; opt.adaptiveClip = true
        func trainer<B: Backend>(_ b: B) throws -> Trainer<B> {
            let t = try Trainer(model: try Glow(config: try GlowConfig.named("tiny"), backend: b, seed: 7), optimizer: opt,
                                data: train, batch: 8, seed: 7, memory: .store)
            try t.initialize()
            return t
        }
        // The injected explosion.
        let faulty = try trainer(FaultyBackend(cpu, fault: .normSpike))
        var norms: [Float] = []
        for s in 0..<16 {
            let before = try cpu.download(faulty.model.arena.values)
            let r = try faulty.trainStep()
            if s < 10 { XCTAssertNil(r.clipThreshold, "step \(s): fewer than ten norms known") } else {
                var g = SpikeGuard(); norms.forEach { g.add(norm: $0) }
                XCTAssertEqual(r.clipThreshold, Double(g.thresholds.clip), "step \(s)")
                XCTAssertEqual(r.skipThreshold, Double(g.thresholds.skip), "step \(s)")
            }
            norms.append(Float(r.gradientNorm))
            if s == FaultyBackend<CPUBackend>.spikeCall - 1 {
                XCTAssert(r.skipped, "the explosion at step \(s) (norm \(r.gradientNorm)) is skipped")
                XCTAssertGreaterThan(r.gradientNorm, 100 * Double(norms.dropLast().max() ?? 0))
                XCTAssertEqual(try cpu.download(faulty.model.arena.values), before, "a skipped step changes no weight")
            } else {
                XCTAssertFalse(r.skipped, "step \(s)")
                XCTAssertNotEqual(try cpu.download(faulty.model.arena.values), before, "step \(s) is applied")
            }
        }
        XCTAssertEqual(faulty.optimizer.step, 15, "15 of 16 updates applied")
        XCTAssertEqual(faulty.consecutiveSkips, 0)

        // Resume: 12 steps straight against 8, save, restore, 4.
        let straight = try trainer(cpu)
        for _ in 0..<12 { try straight.trainStep() }
        let first = try trainer(cpu)
        for _ in 0..<8 { try first.trainStep() }
        let dir = try makeTempDirectory(self).path
        try first.save(to: dir)
        let resumed = try Trainer(model: try Checkpoint.load(dir + "/checkpoint.safetensors", backend: cpu), optimizer: opt,
                                  data: train, batch: 8, seed: 7, memory: .store)
        try resumed.restore(state: try SafeTensorsFile.read(path: dir + "/training-state.safetensors"), source: "state")
        XCTAssertEqual(resumed.spikeGuard, first.spikeGuard)
        for _ in 0..<4 { try resumed.trainStep() }
        XCTAssertEqual(try cpu.download(resumed.model.arena.values), try cpu.download(straight.model.arena.values))
        XCTAssertEqual(try cpu.download(resumed.optimizer.v), try cpu.download(straight.optimizer.v))
    }
}

extension CLITests {
    /// `train --clip auto` writes each step's threshold and whether it clipped or skipped into
    /// metrics.jsonl (no threshold for the first ten steps); `--clip` takes auto, none or a
    /// positive number and names anything else.
    func testTrainClipAutoRecordsThresholds() throws {
        let dir = try makeTempDirectory(self)
        let out = dir.appendingPathComponent("run").path
        _ = try runOK(["train", "--config", "tiny", "--device", "cpu", "--steps", "12", "--clip", "auto", "--eval-every", "0",
                       "--sample-every", "0", "--no-test", "--out", out])
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let rows = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(rows.count, 12)
        for (i, row) in rows.enumerated() {
            XCTAssertNotNil(row["clipped"] as? Bool, "\(row)")
            XCTAssertEqual(row["skipped"] as? Bool, false, "\(row)")
            if i < 10 { XCTAssert(row["clip"] is NSNull, "step \(i + 1): \(row)") } else {
                let clip = try XCTUnwrap(row["clip"] as? Double, "step \(i + 1): \(row)")
                let norms = rows[..<i].compactMap { $0["grad_norm"] as? Double }.sorted()
                let n = norms.count
                let median = n % 2 == 1 ? norms[n / 2] : (norms[n / 2 - 1] + norms[n / 2]) / 2
                XCTAssertEqual(clip, 2 * median, accuracy: 1e-4 * clip, "step \(i + 1): twice the median of the norms before")
            }
        }
        for bad in ["0", "-3", "often", "nan", "auto:1", "auto:x"] {
            let r = try run(["train", "--config", "tiny", "--device", "cpu", "--steps", "1", "--clip=\(bad)", "--out", out + bad])
            XCTAssertNotEqual(r.status, 0)
            XCTAssert(r.stderr.contains("--clip \(bad)"), r.stderr)
        }
    }
}
