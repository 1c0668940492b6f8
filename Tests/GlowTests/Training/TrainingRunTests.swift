import Foundation
import XCTest
@testable import GlowCore
@testable import GlowCPU
@testable import GlowGPU

/// `TrainingRun`: the loop of `glow-gpu train` as a library type.
final class TrainingRunTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-trainingrun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private let config = GlowConfig(channels: 1, height: 4, width: 4, K: 1, L: 2, hidden: 8, batch: 4)

    private func images(_ count: Int, seed: UInt64) throws -> ImageSet {
        var rng = SplitMix64(seed: seed)
        let pixels = (0 ..< count * 16).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 56) }
        return try ImageSet(count: count, channels: 1, height: 4, width: 4, pixels: pixels)
    }

    private func makeRun(_ folder: String, steps: Int, resume: Bool = false) throws -> TrainingRun<CPUBackend> {
        let files = RunFiles(directory: dir.appendingPathComponent(folder).path)
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true)
        var opt = OptimizerConfig()
        opt.warmup = 2
        return try TrainingRun(backend: CPUBackend(threads: 1), config: config, optimizer: opt, seed: 5,
                               resume: resume ? try files.latest() : nil, trainSet: try images(32, seed: 1),
                               testSet: try images(8, seed: 2),
                               schedule: TrainingSchedule(totalSteps: steps, evalEvery: 2, evalImages: 4, sampleEvery: 0, saveEvery: 3),
                               directory: files.directory)
    }

    /// Four steps: evaluations at steps 2 and 4 (the last on all 8 test images), one metrics
    /// line per step, and the run's files; the outcome says where it ended.
    func testRunsTheScheduleAndWritesTheFiles() throws {
        let run = try makeRun("a", steps: 4)
        try run.initialize()
        var evaluated: [(Int, Int)] = [], stepped = 0
        let outcome = try run.run { event in
            switch event {
            case let .evaluated(step, bpd, images, _):
                XCTAssert(bpd.isFinite && bpd > 0, "\(bpd)")
                evaluated.append((step, images))
            case .stepped: stepped += 1
            default: break
            }
        }
        XCTAssertEqual(stepped, 4)
        XCTAssertEqual(evaluated.map(\.0), [2, 4])
        XCTAssertEqual(evaluated.map(\.1), [4, 8])
        XCTAssertEqual(outcome.step, 4)
        XCTAssertNil(outcome.stopSignal)
        XCTAssertFalse(outcome.stoppedByBudget)
        XCTAssertEqual(outcome.testBPD, run.metrics.last?.testBPD)
        let folder = run.files.directory
        XCTAssertEqual(MetricsRecord.read(path: folder + "/metrics.jsonl").map(\.step), [1, 2, 3, 4])
        for name in ["checkpoint.safetensors", "training-state.safetensors", "samples.png", "bpd.png"] {
            XCTAssert(FileManager.default.fileExists(atPath: folder + "/" + name), name)
        }
    }

    /// A stop request after step 2 saves and returns; a run resumed from that save reaches
    /// step 4 with the same weights, bit for bit, as a run that was never stopped.
    func testStopRequestSavesAndResumeContinuesBitwise() throws {
        let whole = try makeRun("whole", steps: 4)
        try whole.initialize()
        _ = try whole.run()

        let first = try makeRun("parts", steps: 4)
        try first.initialize()
        var asked = false
        first.stopRequest = { asked ? SIGINT : nil }
        let stopped = try first.run { event in if case .stepped = event, first.trainer.step == 2 { asked = true } }
        XCTAssertEqual(stopped.stopSignal, SIGINT)
        XCTAssertEqual(stopped.step, 2)

        let second = try makeRun("parts", steps: 4, resume: true)
        XCTAssert(second.resumed)
        XCTAssertEqual(second.trainer.step, 2)
        XCTAssertEqual(second.metrics.map(\.step), [1, 2])
        XCTAssertEqual(try second.run().step, 4)
        let cpu = whole.trainer.model.backend
        XCTAssertEqual(try cpu.download(second.model.arena.values), try cpu.download(whole.model.arena.values))
        XCTAssertEqual(MetricsRecord.read(path: second.files.directory + "/metrics.jsonl").map(\.step), [1, 2, 3, 4])
    }

    /// The budget's reserve: the final evaluation at the measured rate (or a third of the
    /// training time per image without one), plus 5 s, with a quarter more.
    func testFinalWorkReserve() {
        XCTAssertEqual(TrainingRun<CPUBackend>.finalWorkSeconds(testImages: 1000, evalRate: 100, trainRate: 10), 1.25 * 10 + 5)
        XCTAssertEqual(TrainingRun<CPUBackend>.finalWorkSeconds(testImages: 300, evalRate: nil, trainRate: 10), 1.25 * 10 + 5)
        XCTAssertEqual(TrainingRun<CPUBackend>.finalWorkSeconds(testImages: 0, evalRate: nil, trainRate: 10), 5)
    }

    /// The example program (Sources/glow-train-example) trains from Swift and writes a run.
    func testTrainExampleProgram() throws {
        guard let bin = CLITests.binary?.deletingLastPathComponent().appendingPathComponent("glow-train-example"),
              FileManager.default.isExecutableFile(atPath: bin.path) else {
            throw XCTSkip("glow-train-example was not found next to glow-gpu")
        }
        let out = dir.appendingPathComponent("example").path
        let p = Process()
        p.executableURL = bin
        p.arguments = [out, "2", CPUKind().name]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(MetricsRecord.read(path: out + "/metrics.jsonl").map(\.step), [1, 2])
        XCTAssertNotNil(MetricsRecord.read(path: out + "/metrics.jsonl").last?.testBPD)
        XCTAssert(FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors"))
    }
}

extension CLITests {
    /// Each configuration's recipe: mnist trains with Adam at 1e-3, the adaptive guard with a
    /// skip limit of 1, `--recover` and an EMA of 0.995 with the growing decay (saved in the
    /// state, with `checkpoint-ema`); tiny keeps Adamax, with the skip limit and without
    /// `--recover` or EMA; an optimizer given on the command line wins, and `--skip-run none`,
    /// `--no-recover` and `--ema none` turn the others off.
    func testTrainRecipeDefaults() throws {
        XCTAssertEqual(OptimizerConfig.recipe(for: "mnist").kind, .adam)
        XCTAssertEqual(OptimizerConfig.recipe(for: "paper").kind, .adamax)
        let dir = try makeTempDirectory(self)
        let common = ["--K", "1", "--hidden", "8", "--steps", "1", "--no-test", "--device", "cpu", "--eval-every", "0",
                      "--sample-every", "0"]
        func train(_ name: String, _ args: [String]) throws -> String {
            try runOK(["train"] + args + ["--out", dir.appendingPathComponent(name).path] + common).stdout
        }
        let mnist = try train("a", ["--config", "mnist"])
        XCTAssert(mnist.contains("adam lr 0.001 warm-up 200, clip auto:2, skip-run 1, recover, ema 0.995 (growing from 0.1), memory"),
                  mnist)
        let state = try SafeTensorsFile.read(path: dir.appendingPathComponent("a/training-state.safetensors").path).metadata
        XCTAssertEqual([state["skip_run"], state["ema"], state["ema_warmup"]], ["1", "0.995", "1"])
        XCTAssert(FileManager.default.fileExists(atPath: dir.appendingPathComponent("a/checkpoint-ema.safetensors").path))
        XCTAssertNotNil(state["recovery"])
        let adamax = try train("b", ["--config", "mnist", "--optimizer", "adamax"])
        XCTAssert(adamax.contains("adamax lr 0.001 warm-up 200, clip auto:2, skip-run 1, recover, ema 0.995 (growing from 0.1), memory"),
                  adamax)
        let tiny = try train("c", ["--config", "tiny"])
        XCTAssert(tiny.contains("adamax lr 0.001 warm-up 200, clip auto:2, skip-run 1, memory"), tiny)
        let off = try train("d", ["--config", "mnist", "--skip-run", "none", "--no-recover", "--ema", "none"])
        XCTAssert(off.contains("adam lr 0.001 warm-up 200, clip auto:2, memory"), off)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("d/checkpoint-ema.safetensors").path))
        let bad = try run(["train", "--config", "tiny", "--skip-run", "x", "--out", dir.appendingPathComponent("e").path] + common)
        XCTAssert(bad.status != 0 && bad.stderr.contains("--skip-run x: expected none or a count"), bad.stderr)
        let badEMA = try run(["train", "--config", "tiny", "--ema", "x", "--out", dir.appendingPathComponent("f").path] + common)
        XCTAssert(badEMA.status != 0 && badEMA.stderr.contains("--ema x: expected none or a decay"), badEMA.stderr)
        // --update-clip: off by default (no key above), recorded, and kept by a resume.
        XCTAssertNil(state["update_clip"])
        let capped = try train("g", ["--config", "tiny", "--update-clip", "1"])
        XCTAssert(capped.contains("skip-run 1, update-clip 1.0, memory"), capped)
        let gState = dir.appendingPathComponent("g/training-state.safetensors").path
        XCTAssertEqual(try SafeTensorsFile.read(path: gState).metadata["update_clip"], "1.0")
        let resumed = try runOK(["train", "--resume", "--out", dir.appendingPathComponent("g").path, "--steps", "2", "--no-test",
                                 "--device", "cpu", "--eval-every", "0", "--sample-every", "0"]).stdout
        XCTAssert(resumed.contains("update-clip 1.0, memory"), resumed)
        let badCap = try run(["train", "--config", "tiny", "--update-clip", "0", "--out", dir.appendingPathComponent("h").path] + common)
        XCTAssert(badCap.status != 0 && badCap.stderr.contains("--update-clip 0: expected none or a positive cap"), badCap.stderr)
    }
}
