import Foundation
import XCTest
@testable import GlowCore
import GlowCPU

/// Faults during training, driven through the built `glow-gpu` binary on a tiny run (8×8
/// images from a folder of 32 PNGs, K=2 L=2 hidden=16, CPU): `kill -9` at random moments,
/// SIGINT/SIGTERM, and full-disk failures of every kind of write. Every time, what is on disk
/// must load, and a resumed run must end bitwise equal to one never interrupted.
final class FaultTests: XCTestCase {
    struct Result { let status: Int32; let stdout: String; let stderr: String }

    /// A started `glow-gpu` process whose output goes to files.
    final class Child {
        let process = Process()
        let out: URL, err: URL
        init(out: URL, err: URL) { self.out = out; self.err = err }
        func wait() -> Result {
            process.waitUntilExit()
            let o = (try? Data(contentsOf: out)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let e = (try? Data(contentsOf: err)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err)
            return Result(status: process.terminationStatus, stdout: o, stderr: e)
        }
    }

    var root: URL!

    override func setUpWithError() throws {
        guard CLITests.binary != nil else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        root = FileManager.default.temporaryDirectory.appendingPathComponent("glow-fault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // 32 random 8×8 gray images: the training set of every run here.
        let pngs = root.appendingPathComponent("pngs")
        try FileManager.default.createDirectory(at: pngs, withIntermediateDirectories: true)
        let px = Philox.array(count: 32 * 64, distribution: .uniform(low: 0, high: 256), seed: 3, stream: 0).map { UInt8(min(255, $0)) }
        for i in 0 ..< 32 {
            try PNGImage.write(path: pngs.appendingPathComponent(String(format: "img%02d.png", i)).path, width: 8, height: 8,
                               channels: 1, pixels: Array(px[i * 64 ..< (i + 1) * 64]))
        }
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    func dir(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// `glow-gpu train` on the tiny run: `steps` steps into `out`, saving every step.
    func trainArgs(_ out: String, steps: Int, _ extra: [String] = []) -> [String] {
        ["train", "--config", "tiny", "--dataset", "folder", "--data", dir("pngs"), "--no-test", "--device", "cpu",
         "--steps", "\(steps)", "--save-every", "1", "--sample-every", "0", "--out", out] + extra
    }

    func start(_ args: [String], env: [String: String] = [:]) throws -> Child {
        let tmp = FileManager.default.temporaryDirectory
        let c = Child(out: tmp.appendingPathComponent("glow-fault-\(UUID().uuidString).out"),
                      err: tmp.appendingPathComponent("glow-fault-\(UUID().uuidString).err"))
        _ = FileManager.default.createFile(atPath: c.out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: c.err.path, contents: nil)
        c.process.executableURL = CLITests.binary
        c.process.arguments = args
        c.process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        c.process.standardOutput = try FileHandle(forWritingTo: c.out)
        c.process.standardError = try FileHandle(forWritingTo: c.err)
        try c.process.run()
        return c
    }

    func run(_ args: [String], env: [String: String] = [:]) throws -> Result { try start(args, env: env).wait() }

    @discardableResult
    func runOK(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let r = try run(args)
        XCTAssertEqual(r.status, 0, "glow-gpu \(args.joined(separator: " ")):\n\(r.stdout)\n\(r.stderr)", file: file, line: line)
        return r
    }

    /// Every tensor of a file as bit patterns, by name (metadata such as the save id differs between runs).
    func bits(_ path: String) throws -> [String: [UInt64]] {
        let f = try SafeTensorsFile.read(path: path)
        var out: [String: [UInt64]] = [:]
        for t in f.tensors {
            switch t.data {
            case .f32(let v): out[t.name] = v.map { UInt64($0.bitPattern) }
            case .i64(let v): out[t.name] = v.map { UInt64(bitPattern: $0) }
            }
        }
        return out
    }

    /// Asserts that `out`'s checkpoint and training state equal `reference`'s bit for bit.
    func assertSameRun(_ out: String, _ reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for name in ["checkpoint.safetensors", "training-state.safetensors"] {
            let a = try bits(out + "/" + name), b = try bits(reference + "/" + name)
            XCTAssertEqual(Set(a.keys), Set(b.keys), name, file: file, line: line)
            let differing = a.keys.filter { a[$0] != b[$0] }.sorted()
            XCTAssertTrue(differing.isEmpty, "\(name): tensors differ from the uninterrupted run: \(differing.prefix(5))", file: file, line: line)
        }
        XCTAssertEqual(try SafeTensorsFile.read(path: out + "/training-state.safetensors").metadata["step"],
                       try SafeTensorsFile.read(path: reference + "/training-state.safetensors").metadata["step"], file: file, line: line)
    }

    /// The steps of metrics.jsonl's lines; fails on a line that is not a complete JSON object.
    func metricSteps(_ out: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Int] {
        let text = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "metrics.jsonl ends in a torn line", file: file, line: line)
        return try text.split(separator: "\n").map { l in
            let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]
            return try XCTUnwrap(o?["step"] as? Int, "metrics line \(l)", file: file, line: line)
        }
    }

    /// What is on disk loads: the newest consistent pair, and the model in it.
    @discardableResult
    func assertLoads(_ out: String, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let pair = try RunFiles(directory: out).latest()
        _ = try Checkpoint.load(pair.checkpoint, source: out, backend: CPUBackend())
        XCTAssertEqual(try Checkpoint.load(out + "/checkpoint.safetensors", backend: CPUBackend()).config.K, 2, file: file, line: line)
        return pair.step
    }

    func temporaries(_ out: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { $0.contains(".tmp-") }
    }

    // MARK: kill -9

    func testKillNineAtRandomMomentsThenResumeIsBitwiseEqual() throws {
        // The killed runs aim at 10⁵ steps, so none finishes before its kill on a fast machine;
        // the learning-rate schedule does not depend on the total, so the final run may stop anywhere.
        let killed = dir("killed")
        var rng = SplitMix64(seed: 2024)
        var kills = 0, loaded = 0
        while kills < 12 {
            let resumable = (try? RunFiles(directory: killed).latest()) != nil
            let child = try start(trainArgs(killed, steps: 100_000, [resumable ? "--resume" : "--overwrite"]))
            usleep(200_000 + UInt32(rng.below(1_500_000)))
            XCTAssertTrue(child.process.isRunning)
            kill(child.process.processIdentifier, SIGKILL)
            kills += 1
            let r = child.wait()
            XCTAssertEqual(r.status, SIGKILL, "\(r.stdout)\n\(r.stderr)")
            // Whatever the moment, what is on disk loads (unless no save had happened yet).
            let fm = FileManager.default
            if fm.fileExists(atPath: killed + "/checkpoint.safetensors") || fm.fileExists(atPath: killed + "/checkpoint.prev.safetensors") {
                try assertLoads(killed)
                loaded += 1
            }
        }
        XCTAssertGreaterThan(loaded, 0, "no kill came after the first save")
        let steps = (try RunFiles(directory: killed).latest().step) + 5
        let last = try runOK(trainArgs(killed, steps: steps, ["--resume"]))
        XCTAssertTrue(temporaries(killed).isEmpty, "stale temporaries left: \(temporaries(killed)); \(last.stdout)")
        let reference = dir("reference")
        try runOK(trainArgs(reference, steps: steps))
        try assertSameRun(killed, reference)
        XCTAssertEqual(try metricSteps(killed), Array(1 ... steps), "metrics.jsonl holds each step once")
    }

    // MARK: Signals

    func waitForMetrics(_ out: String, lines: Int, _ child: Child) throws {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && child.process.isRunning {
            let n = ((try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
            if n >= lines { return }
            usleep(20_000)
        }
        XCTFail("training did not reach \(lines) steps")
    }

    func stoppedStep(_ r: Result, _ signal: String) throws -> Int {
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("stopped by \(signal) at step ") }, r.stdout + r.stderr)
        return try XCTUnwrap(Int(line.split(separator: " ")[5]), String(line))
    }

    func testSigintAndSigtermSaveThenResumeContinuesExactly() throws {
        let out = dir("signalled")
        // --save-every 0: nothing but the signal saves.
        var child = try start(trainArgs(out, steps: 100_000, ["--save-every", "0"]))
        try waitForMetrics(out, lines: 3, child)
        kill(child.process.processIdentifier, SIGINT)
        var r = child.wait()
        XCTAssertEqual(r.status, 130, r.stdout + r.stderr)
        let s1 = try stoppedStep(r, "SIGINT")
        XCTAssertTrue(r.stdout.contains("resume with: glow-gpu train ") && r.stdout.contains(" --resume"), r.stdout)
        XCTAssertEqual(try assertLoads(out), s1)
        XCTAssertEqual(try metricSteps(out).last, s1)

        child = try start(trainArgs(out, steps: 100_000, ["--save-every", "0", "--resume"]))
        try waitForMetrics(out, lines: s1 + 3, child)
        kill(child.process.processIdentifier, SIGTERM)
        r = child.wait()
        XCTAssertEqual(r.status, 143, r.stdout + r.stderr)
        let s2 = try stoppedStep(r, "SIGTERM")
        XCTAssertGreaterThan(s2, s1)
        XCTAssertEqual(try assertLoads(out), s2)

        // Resumed to s2 + 3 steps, the run equals one that never stopped.
        try runOK(trainArgs(out, steps: s2 + 3, ["--resume"]))
        let reference = dir("reference")
        try runOK(trainArgs(reference, steps: s2 + 3, ["--save-every", "0"]))
        try assertSameRun(out, reference)
        XCTAssertEqual(try metricSteps(out), Array(1 ... s2 + 3))
    }

    func testSecondSignalStopsAtOnce() throws {
        let out = dir("twice")
        // Steps of a few seconds (a wide network, a large batch), so that the second signal,
        // sent once the first is acknowledged, lands in the same step.
        let child = try start(trainArgs(out, steps: 100_000, ["--save-every", "0", "--hidden", "512", "--batch", "256"]))
        try waitForMetrics(out, lines: 1, child)
        kill(child.process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !((try? String(contentsOf: child.err, encoding: .utf8)) ?? "").contains("stop requested") {
            usleep(10_000)
        }
        kill(child.process.processIdentifier, SIGINT)
        let r = child.wait()
        XCTAssertEqual(r.status, 130, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("stop requested: finishing this step, then saving"), r.stderr)
        XCTAssertTrue(r.stderr.contains("second signal: stopping at once without saving"), r.stdout + r.stderr)
        XCTAssertFalse(r.stdout.contains("stopped by SIGINT"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors"), "nothing is saved")
    }

    // MARK: Full disk

    /// Each kind of write fails at its n-th attempt (an injected ENOSPC): the run stops with an
    /// error naming the file and the reason, and the files of the previous step are intact.
    func testInjectedWriteFailuresKeepThePreviousFiles() throws {
        for (index, (pattern, file)) in [("checkpoint.safetensors@3", "checkpoint.safetensors"),
                                ("training-state.safetensors@3", "training-state.safetensors"),
                                ("metrics.jsonl@3", "metrics.jsonl"), ("samples.png@3", "samples.png"),
                                ("bpd.png@3", "bpd.png")].enumerated() {
            let out = dir("full-\(index)")   // (a folder named after the file would match the pattern itself)
            let r = try run(trainArgs(out, steps: 6, ["--sample-every", "1"]), env: ["GLOW_FAIL_WRITES": pattern])
            XCTAssertEqual(r.status, 1, "\(pattern): \(r.stdout)\n\(r.stderr)")
            XCTAssertTrue(r.stderr.contains(file) && r.stderr.contains("No space left on device"), "\(pattern): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
            // Writes per step: metrics, samples.png, then checkpoint + state, then bpd.png;
            // the third write of `file` is step 3's, so step 2's saved files must be intact.
            XCTAssertEqual(try assertLoads(out), file == "bpd.png" ? 3 : 2, pattern)
            XCTAssertEqual(try metricSteps(out), file == "metrics.jsonl" ? [1, 2] : [1, 2, 3], pattern)
            XCTAssertEqual(try PNGImage.read(path: out + "/samples.png").width, 8 * 8 + 9, pattern)
            if file == "samples.png" {
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/samples.png")),
                               try Data(contentsOf: URL(fileURLWithPath: out + "/samples-step000002.png")), "samples.png is step 2's")
            }
            XCTAssertNoThrow(try PNGImage.read(path: out + "/bpd.png"), pattern)
            XCTAssertTrue(temporaries(out).isEmpty, "\(pattern): \(temporaries(out))")
        }
    }

    /// A real full disk: a small tmpfs (when this machine lets the tests mount one) fills up
    /// during training; whichever write hits the limit, the run stops with a clear error and the
    /// files on disk load.
    func testFullTmpfs() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root") }
        let mnt = dir("tmpfs")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=640k", "tmpfs", mnt]
        mount.standardError = FileHandle.nullDevice
        try mount.run(); mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("this machine does not allow mounting a tmpfs") }
        defer {
            let u = Process()
            u.executableURL = URL(fileURLWithPath: "/bin/umount")
            u.arguments = [mnt]
            try? u.run(); u.waitUntilExit()
        }
        let out = mnt + "/run"
        let r = try run(trainArgs(out, steps: 400, ["--sample-every", "1"]))
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("No space left on device"), r.stderr)
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        let step = try assertLoads(out)
        XCTAssertGreaterThanOrEqual(step, 1)
        let steps = try metricSteps(out)
        XCTAssertEqual(steps, Array(1 ... steps.count))
        XCTAssertNoThrow(try PNGImage.read(path: out + "/samples.png"))
    }

    // MARK: Existing runs and resuming

    func testExistingOutIsRefusedUnlessOverwriteAndOverwriteWaitsForTheNewRun() throws {
        let out = dir("existing")
        try runOK(trainArgs(out, steps: 3))
        let metrics = try Data(contentsOf: URL(fileURLWithPath: out + "/metrics.jsonl"))
        var r = try run(trainArgs(out, steps: 3))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("already holds a run") && r.stderr.contains("--overwrite"), r.stderr)
        // An --overwrite run that fails before training leaves the old run alone.
        r = try run(trainArgs(out, steps: 3, ["--overwrite", "--K", "0"]))
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/metrics.jsonl")), metrics)
        XCTAssertEqual(try assertLoads(out), 3)
        try runOK(trainArgs(out, steps: 2, ["--overwrite"]))
        XCTAssertEqual(try metricSteps(out), [1, 2])
        XCTAssertEqual(try assertLoads(out), 2)
    }

    func testResumeWithConflictingModelOptionsIsAnError() throws {
        let out = dir("conflict")
        try runOK(trainArgs(out, steps: 2))
        for (option, message) in [(["--coupling", "additive"], "--coupling additive (the checkpoint has affine)"),
                                  (["--permutation", "reverse"], "--permutation reverse (the checkpoint has invconv)"),
                                  (["--no-lu"], "--no-lu (the checkpoint has lu = true)"),
                                  (["--n-bits", "5"], "--n-bits 5 (the checkpoint has 8)"),
                                  (["--K", "3"], "--K 3 (the checkpoint has 2)"),
                                  (["--config", "mnist"], "--config mnist (K 16; the checkpoint has 2)"),
                                  (["--no-learn-top"], "--no-learn-top (the checkpoint has learn_top = true)"),
                                  (["--pad", "2"], "--pad 2 (the checkpoint has 0)")] {
            let r = try run(trainArgs(out, steps: 4, ["--resume"] + option))
            XCTAssertEqual(r.status, 1, "\(option)")
            XCTAssertTrue(r.stderr.contains(message), "\(option): \(r.stderr)")
        }
        XCTAssertEqual(try assertLoads(out), 2)
        // Options that agree with the checkpoint are fine; those not given default to it.
        try runOK(trainArgs(out, steps: 3, ["--resume", "--coupling", "affine", "--lu"]))
        try runOK(["train", "--dataset", "folder", "--data", dir("pngs"), "--no-test", "--device", "cpu", "--steps", "4",
                   "--out", out, "--resume"])
        XCTAssertEqual(try assertLoads(out), 4)
        let r = try run(trainArgs(out, steps: 5, ["--resume", "--optimizer", "adam"]))
        XCTAssertTrue(r.status == 1 && r.stderr.contains("was trained with --optimizer adamax"), r.stderr)
    }

    /// The optimizer's settings travel in the training state: a run started with a learning
    /// rate, β2, warm-up, clipping, skip limit (none, against `tiny`'s 1) and `--recover` (off
    /// for `tiny`) that are not the defaults, and resumed with none of them given, ends bitwise
    /// equal to the same run never interrupted; a setting given with --resume still wins (and
    /// so the run then differs).
    func testResumeKeepsTheOptimizerSettingsOfTheTrainingState() throws {
        let settings = ["--lr", "0.0007", "--beta2", "0.99", "--warmup", "3", "--clip", "auto:1.5", "--skip-run", "none", "--recover"]
        let reference = dir("settings-reference"), resumed = dir("settings-resumed"), changed = dir("settings-changed")
        try runOK(trainArgs(reference, steps: 5, settings))
        try runOK(trainArgs(resumed, steps: 2, settings))
        let state = try SafeTensorsFile.read(path: resumed + "/training-state.safetensors").metadata
        XCTAssertEqual([state["lr"], state["beta2"], state["warmup"], state["clip"], state["skip_run"]],
                       ["0.0007", "0.99", "3", "auto:1.5", nil])
        XCTAssertNotNil(state["recovery"])
        let r = try runOK(trainArgs(resumed, steps: 5, ["--resume"]))
        XCTAssertTrue(r.stdout.contains("lr 0.0007 β2 0.99 warm-up 3, clip auto:1.5, recover, memory"), r.stdout)
        try assertSameRun(resumed, reference)
        try runOK(trainArgs(changed, steps: 2, settings))
        try runOK(trainArgs(changed, steps: 5, ["--resume", "--beta2", "0.999"]))
        XCTAssertNotEqual(try bits(changed + "/checkpoint.safetensors"), try bits(reference + "/checkpoint.safetensors"))
        XCTAssertEqual(try SafeTensorsFile.read(path: changed + "/training-state.safetensors").metadata["beta2"], "0.999")
    }

    /// A run trained without EMA and resumed with `--ema` keeps its course: its weights and
    /// moments equal those of the same run resumed without, bit for bit, and the average
    /// starts from the weights of the resume (so one step, update t = 2, at the growing decay
    /// min(0.5, 3/12) = 0.25 puts it a quarter of the way from the weights after that step
    /// back to those before it). The decay is then in the state, and a second resume
    /// without `--ema` keeps it; dropping the EMA is an error.
    func testResumeWithEMAStartsTheAverageFromTheWeights() throws {
        let plain = dir("ema-plain"), late = dir("ema-late")
        try runOK(trainArgs(plain, steps: 2))
        try runOK(trainArgs(late, steps: 2))
        let before = try bits(late + "/checkpoint.safetensors")
        try runOK(trainArgs(plain, steps: 3, ["--resume"]))
        let r = try runOK(trainArgs(late, steps: 3, ["--resume", "--ema", "0.5"]))
        XCTAssertTrue(r.stdout.contains("EMA (decay 0.5) starts from the weights of step 2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ema 0.5 (growing from 0.1), memory"), r.stdout)
        let live = try bits(late + "/checkpoint.safetensors")
        XCTAssertEqual(live, try bits(plain + "/checkpoint.safetensors"), "the EMA does not change the run")
        let ema = try SafeTensorsFile.read(path: late + "/checkpoint-ema.safetensors")
        var compared = 0
        for t in ema.tensors {
            guard case .f32(let e) = t.data, let a = before[t.name], let b = live[t.name], a != b else { continue }
            for (i, x) in e.enumerated() {
                let blend = 0.25 * Float(bitPattern: UInt32(a[i])) + 0.75 * Float(bitPattern: UInt32(b[i]))
                XCTAssertEqual(x, blend, accuracy: 1e-6 * max(1, abs(blend)), t.name)
            }
            compared += 1
        }
        XCTAssertGreaterThan(compared, 0, "some tensor changed in step 3")
        let saved = try SafeTensorsFile.read(path: late + "/training-state.safetensors").metadata
        XCTAssertEqual([saved["ema"], saved["ema_warmup"]], ["0.5", "1"])
        let again = try runOK(trainArgs(late, steps: 4, ["--resume"]))
        XCTAssertTrue(again.stdout.contains("clip auto:2, skip-run 1, ema 0.5 (growing from 0.1), memory"), again.stdout)
        XCTAssertEqual(try SafeTensorsFile.read(path: late + "/checkpoint-ema.safetensors").metadata["train_step"], "4")
        // A state from before the growing decay (no `ema_warmup`) resumes with its fixed one.
        var old = try SafeTensorsFile.read(path: late + "/training-state.safetensors")
        old.metadata["ema_warmup"] = nil
        try Data(try old.encode()).write(to: URL(fileURLWithPath: late + "/training-state.safetensors"))
        let fixed = try runOK(trainArgs(late, steps: 5, ["--resume"]))
        XCTAssertTrue(fixed.stdout.contains("clip auto:2, skip-run 1, ema 0.5, memory"), fixed.stdout)
        XCTAssertNil(try SafeTensorsFile.read(path: late + "/training-state.safetensors").metadata["ema_warmup"])
    }

    func testStaleTemporariesAreRemovedAndAnInterruptedSaveFallsBack() throws {
        let out = dir("stale")
        try runOK(trainArgs(out, steps: 3))
        // A save killed after moving the pair aside and installing only the new checkpoint:
        // checkpoint = a newer orphan, no state; the previous pair is step 2 or 3.
        let fm = FileManager.default
        try fm.moveItem(atPath: out + "/checkpoint.safetensors", toPath: out + "/checkpoint.prev.safetensors.x")
        try fm.removeItem(atPath: out + "/checkpoint.prev.safetensors")
        try fm.moveItem(atPath: out + "/checkpoint.prev.safetensors.x", toPath: out + "/checkpoint.prev.safetensors")
        try fm.removeItem(atPath: out + "/training-state.prev.safetensors")
        try fm.moveItem(atPath: out + "/training-state.safetensors", toPath: out + "/training-state.prev.safetensors")
        try Data("orphan".utf8).write(to: URL(fileURLWithPath: out + "/checkpoint.safetensors"))
        // Temporaries of a dead process (pid 2^22 + 1 is above Linux's default pid_max).
        for name in ["checkpoint.safetensors.tmp-4194305", "samples.png.tmp-4194305"] {
            try Data("partial".utf8).write(to: URL(fileURLWithPath: out + "/" + name))
        }
        let r = try runOK(trainArgs(out, steps: 5, ["--resume"]))
        XCTAssertTrue(r.stdout.contains("removed 2 temporary files of an interrupted save"), r.stdout)
        XCTAssertTrue(r.stdout.contains("the last save was interrupted; resuming from the consistent pair of step 3"), r.stdout)
        XCTAssertTrue(temporaries(out).isEmpty)
        let reference = dir("reference")
        try runOK(trainArgs(reference, steps: 5))
        try assertSameRun(out, reference)
    }

    func testCorruptTestSplitIsReported() throws {
        // A small CIFAR-10 folder: five train batches of two images, and a test batch cut
        // in the middle of its first record.
        let data = dir("cifar")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for b in 1 ... 5 {
            let record = [UInt8(b)] + [UInt8](repeating: UInt8(40 * b), count: 3072)
            try Data(record + record).write(to: URL(fileURLWithPath: data + "/data_batch_\(b).bin"))
        }
        try Data([UInt8](repeating: 1, count: 100)).write(to: URL(fileURLWithPath: data + "/test_batch.bin"))
        let args = ["train", "--config", "tiny", "--dataset", "cifar10", "--data", data, "--image-size", "8", "--device", "cpu",
                    "--steps", "1", "--out", dir("corrupt-test")]
        let r = try run(args)
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("the test split of --dataset cifar10 cannot be used") && r.stderr.contains("test_batch.bin")
                      && r.stderr.contains("--no-test"), r.stderr)
        // Without the test split the same data trains.
        try runOK(args + ["--no-test"])
    }

    // MARK: Options

    /// Sizes from options that overflow or cannot fit in memory: a named error and exit 1 on
    /// every command, never a trap or an abort.
    func testOversizedOptionsAreNamedErrors() throws {
        let out = dir("small")
        try runOK(trainArgs(out, steps: 1))
        let ckpt = ["--checkpoint", out + "/checkpoint.safetensors", "--device", "cpu"]
        let folder = ["--dataset", "folder", "--data", dir("pngs")]
        let big = "9223372036854775807"
        let train = { (extra: [String]) in self.trainArgs(self.dir("bad"), steps: 2, extra) }
        let cases: [([String], String)] = [
            (train(["--epochs", big]) .filter { $0 != "--steps" && $0 != "2" }, "is past the largest step count"),
            (train(["--steps", big]), "is past the largest image count"),
            (train(["--pad", "1000000"]), "(--pad 1000000): needs"),
            (train(["--image-size", "1000000"]), "(--image-size 1000000): needs"),
            (train(["--batch", "1000000000"]), "--batch 1000000000: a training step of 1000000000 images"),
            (train(["--K", "10000000"]), "config K/L/hidden: the parameters of K=10000000"),
            (train(["--hidden", "10000000"]), "config K/L/hidden: the parameters of K=2 L=2 hidden=10000000"),
            (train(["--L", "9"]), "config L: 9, at most 8 levels"),
            (train(["--minutes", "nan"]), "--minutes nan: must be a positive number"),
            (train(["--eval-images", "0"]), "--eval-images 0: must be at least 1"),
            (["sample", "--count", "1000000000", "--out", dir("s.png")] + ckpt, "sampling 1000000000 images: needs"),
            (["sample", "--count", big, "--out", dir("s.png")] + ckpt, "past the largest integer"),
            (["sample", "--columns", "1000000000", "--out", dir("s.png")] + ckpt, "too large to write"),
            (["sample", "--temperature", "1e30", "--out", dir("s.png")] + ckpt, "gave a non-finite value"),
            (["interpolate", "--from", "0", "--to", "1", "--steps", "1000000000", "--out", dir("i.png")] + folder + ckpt,
             "interpolation in 1000000000 steps: needs"),
            (["encode", "--offset", "3", "--count", big, "--out", dir("z.safetensors")] + folder + ckpt, "runs past the dataset's 32 images"),
            (["encode", "--image-size", "1000000", "--out", dir("z.safetensors")] + folder + ckpt, "resize to 1000000×1000000"),
            (["eval", "--image-size", "1000000"] + folder + ckpt, "resize to 1000000×1000000"),
            (["bench", "--config", "tiny", "--batch", "1000000000", "--device", "cpu"], "--batch 1000000000"),
            (["bench", "--config", "tiny", "--K", "10000000", "--device", "cpu"], "config K/L/hidden"),
            (["bench", "--config", "tiny", "--steps", big, "--device", "cpu"], "past the largest integer"),
        ]
        for (args, message) in cases {
            let r = try run(args)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stdout)\n\(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        // eval: a huge --batch is fine; an empty set fails with valid JSON on stdout.
        let ok = try runOK(["eval", "--batch", big, "--json"] + folder + ckpt)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        let empty = dir("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let r = try run(["eval", "--dataset", "folder", "--data", empty, "--json"] + ckpt)
        XCTAssertEqual(r.status, 1)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertTrue((obj?["error"] as? String)?.contains("holds no .png files") == true, r.stdout)
    }
}
