import Foundation
import XCTest
@testable import GlowCore
import GlowCPU

/// `mpirun -np 2 glow-gpu train` on a tiny model and an 8×8 IDX data set written here:
/// equivalence with one process at twice the batch, a killed or stopped rank ending the
/// job, and resuming. Skipped when `mpirun` is absent unless `GLOW_REQUIRE_MPI=1`.
final class MPITests: XCTestCase {
    /// `mpirun` on PATH, or nil.
    static let mpirun: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    var dir = URL(fileURLWithPath: "/")
    var binary = ""
    var mpirun = ""

    override func setUpWithError() throws {
        guard let m = Self.mpirun else {
            if ProcessInfo.processInfo.environment["GLOW_REQUIRE_MPI"] == "1" {
                XCTFail("GLOW_REQUIRE_MPI=1 but mpirun is not on PATH (Debian: openmpi-bin; scripts/setup.sh installs it)")
            }
            throw XCTSkip("mpirun is not installed (Debian: openmpi-bin), so the MPI tests are skipped")
        }
        guard let b = CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        mpirun = m; binary = b.path
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-mpi-\(UUID().uuidString)")
        try writeDataset(dir.appendingPathComponent("data"))
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// 48 training and 150 test images of 8×8 with labels, as MNIST's IDX files (the test
    /// set is 3 evaluation batches of at most 64, so 2 ranks split it unevenly).
    func writeDataset(_ d: URL) throws {
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 5)
        func be32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
        for (prefix, n) in [("train", 48), ("t10k", 150)] {
            let pixels = (0..<(n * 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let labels = (0..<n).map { _ in UInt8(rng.next() % 10) }
            try Data(be32(0x803) + be32(n) + be32(8) + be32(8) + pixels).write(to: d.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
            try Data(be32(0x801) + be32(n) + labels).write(to: d.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
        }
    }

    /// `train` options shared by every run: tiny model, no warm-up, saves only at the end.
    func trainArgs(batch: Int, steps: Int, out: String, extra: [String] = []) -> [String] {
        ["train", "--config", "tiny", "--device", "cpu", "--data", dir.appendingPathComponent("data").path, "--seed", "3",
         "--warmup", "0", "--eval-every", "0", "--sample-every", "0", "--save-every", "0", "--batch", String(batch),
         "--steps", String(steps), "--out", dir.appendingPathComponent(out).path] + extra
    }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    /// Starts `executable args` with output to files; `watch` runs while it is alive.
    func launch(_ executable: String, _ args: [String], environment: [String: String] = [:], timeout: Double = 120,
                watch: ((Process) -> Void)? = nil) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        // Containers often forbid the cross-memory attach Open MPI uses for large messages.
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = dir.appendingPathComponent("run-\(UUID().uuidString).out"), err = out.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let o = try FileHandle(forWritingTo: out), e = try FileHandle(forWritingTo: err)
        p.standardOutput = o; p.standardError = e
        try p.run()
        watch?(p)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        let hung = p.isRunning
        if hung { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        p.waitUntilExit()
        try o.close(); try e.close()
        let r = Run(status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                    stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
        XCTAssertFalse(hung, "\(executable) \(args.joined(separator: " ")) still ran after \(timeout) s:\n\(r.stdout)\n\(r.stderr)")
        return r
    }

    func mpi(_ args: [String], environment: [String: String] = [:], timeout: Double = 120,
             watch: ((Process) -> Void)? = nil) throws -> Run {
        try launch(mpirun, ["--allow-run-as-root", "--oversubscribe", "-np", "2", binary] + args, environment: environment,
                   timeout: timeout, watch: watch)
    }

    func ok(_ r: Run, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, "\(what) failed:\n\(r.stdout)\n\(r.stderr)", file: file, line: line)
    }

    /// Every float tensor of a checkpoint, by name.
    func parameters(_ out: String) throws -> [String: [Float]] {
        let model = try Checkpoint.load(dir.appendingPathComponent(out).appendingPathComponent("checkpoint.safetensors").path,
                                        backend: TestBackends.cpu)
        var d: [String: [Float]] = [:]
        for p in model.parameters { d[p.name] = try TestBackends.cpu.download(p.value) }
        return d
    }

    /// ‖a − b‖ / ‖b‖ over all parameters together, and the worst of it per tensor.
    func relativeDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> (global: Double, tensor: Double, name: String) {
        var dd = 0.0, bb = 0.0, worst = (0.0, "")
        for (name, x) in b {
            guard let y = a[name], y.count == x.count else { return (.infinity, .infinity, name) }
            let d = zip(y, x).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let n = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            dd += d; bb += n
            let r = (d / max(n, 1e-300)).squareRoot()
            if !(r <= worst.0) { worst = (r, name) }
        }
        return ((dd / bb).squareRoot(), worst.0, worst.1)
    }

    func metric(_ out: String, step: Int, _ key: String = "train_bpd") throws -> Double? {
        let text = try String(contentsOf: dir.appendingPathComponent(out).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        for line in text.split(separator: "\n") {
            guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  obj["step"] as? Int == step else { continue }
            return obj[key] as? Double
        }
        return nil
    }

    /// 2 ranks × batch 4 equal 1 process × batch 8 after 5 steps, ActNorm initialisation
    /// included (the first step's train bpd is computed right after it).
    func testTwoRanksEqualOneProcessAtTwiceTheBatch() throws {
        ok(try launch(binary, trainArgs(batch: 8, steps: 5, out: "one")), "1 process, batch 8")
        let r = try mpi(trainArgs(batch: 4, steps: 5, out: "two"))
        ok(r, "2 ranks, batch 4")
        XCTAssertTrue(r.stdout.contains("batch 4 per rank × 2 ranks = 8"), r.stdout)
        // Float32 sums split over two ranks round differently: ~3e-8 over all parameters; up
        // to ~1e-5 in the smallest tensors (ActNorm biases near 0 after centring).
        let one = try parameters("one"), two = try parameters("two")
        let d = relativeDifference(two, one)
        print("2 ranks × 4 vs 1 process × 8 after 5 steps: ‖Δ‖/‖θ‖ = \(d.global) over all parameters, "
            + "worst tensor \(d.tensor) (\(d.name))")
        XCTAssertLessThan(d.global, 1e-5, "2 ranks × 4 differ from 1 process × 8")
        XCTAssertLessThan(d.tensor, 1e-4, "2 ranks × 4 differ from 1 process × 8 in \(d.name)")
        let b1 = try XCTUnwrap(metric("one", step: 1)), b2 = try XCTUnwrap(metric("two", step: 1))
        XCTAssertEqual(b2, b1, accuracy: 1e-5 * abs(b1), "first step's bpd (right after the ActNorm initialisation)")
        // The final evaluation splits the test set over the ranks and sums.
        let t1 = try XCTUnwrap(metric("one", step: 5, "test_bpd")), t2 = try XCTUnwrap(metric("two", step: 5, "test_bpd"))
        XCTAssertEqual(t2, t1, accuracy: 1e-5 * abs(t1), "test bpd on 150 images (metrics.jsonl keeps 6 digits)")
        // The comparison can fail: one process at the per-rank batch trains differently.
        ok(try launch(binary, trainArgs(batch: 4, steps: 5, out: "small")), "1 process, batch 4")
        XCTAssertGreaterThan(relativeDifference(try parameters("small"), one).global, 1e-3)
    }

    /// `train --ranks 2` (threads of one process) is `mpirun -np 2`'s job: the same
    /// parameters, bit for bit, from the same global batch; its other rank prints nothing;
    /// and, as with one rank, the threads each rank uses do not change a bit.
    func testInProcessRanksEqualMPIRanksBitwise() throws {
        ok(try mpi(trainArgs(batch: 4, steps: 4, out: "mpi")), "mpirun -np 2, batch 4")
        let r = try launch(binary, trainArgs(batch: 8, steps: 4, out: "threads", extra: ["--ranks", "2", "--threads", "1"]))
        ok(r, "--ranks 2, batch 8")
        XCTAssertEqual(r.stdout.components(separatedBy: "glow-gpu train:").count - 1, 1, "one rank prints:\n\(r.stdout)")
        XCTAssertTrue(r.stdout.contains("(rank 0 of 2 in-process ranks)") && r.stdout.contains("batch 4 per rank × 2 ranks = 8"), r.stdout)
        let viaMPI = try parameters("mpi"), threads = try parameters("threads")
        XCTAssertEqual(threads.count, viaMPI.count)
        for (name, v) in viaMPI { XCTAssertEqual(threads[name], v, "\(name): --ranks 2 against mpirun -np 2") }
        XCTAssertEqual(try metric("threads", step: 4, "test_bpd"), try metric("mpi", step: 4, "test_bpd"))
        ok(try launch(binary, trainArgs(batch: 8, steps: 4, out: "threads2", extra: ["--ranks", "2", "--threads", "2"])), "--threads 2")
        let threads2 = try parameters("threads2")
        for (name, v) in threads { XCTAssertEqual(threads2[name], v, "\(name): --ranks 2 with 1 and 2 threads each") }
        // The comparison can fail: one rank at the same global batch rounds differently.
        ok(try launch(binary, trainArgs(batch: 8, steps: 4, out: "one")), "1 rank, batch 8")
        let one = try parameters("one")
        XCTAssertTrue(one.contains { threads[$0.key] != $0.value }, "one rank and two agree bitwise: the check above proves nothing")
        XCTAssertLessThan(relativeDifference(threads, one).global, 1e-5)
        // A batch the ranks cannot share, and --ranks with mpirun, are refused by name.
        let uneven = try launch(binary, trainArgs(batch: 8, steps: 1, out: "uneven", extra: ["--ranks", "3"]))
        XCTAssertNotEqual(uneven.status, 0)
        XCTAssertTrue(uneven.stderr.contains("--batch 8 does not split evenly over --ranks 3"), uneven.stderr)
        let both = try mpi(trainArgs(batch: 8, steps: 1, out: "both", extra: ["--ranks", "2"]))
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("give ranks as MPI processes or as --ranks, not both"), both.stderr)
    }

    /// Under MPI a training step waits on the host at most twice per rank: the gradient
    /// arena's one download for the all-reduce and the step record (bench's own counts).
    func testTwoRanksWaitAtMostTwicePerStep() throws {
        let r = try mpi(["bench", "--config", "tiny", "--device", "cpu", "--steps", "2", "--json"])
        ok(r, "bench under mpirun")
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").last { $0.hasPrefix("{") }, r.stdout)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(obj["ranks"] as? Int, 2, r.stdout)
        XCTAssertEqual(obj["host_waits"] as? Double, 2, r.stdout)
        XCTAssertEqual(obj["downloads"] as? Double, 2, r.stdout)
        XCTAssertEqual(obj["uploads"] as? Double, 3, "the batch, the step's scalars and the averaged gradients: \(r.stdout)")
        // The same job as threads of one process: the same counts per rank.
        let t = try launch(binary, ["bench", "--config", "tiny", "--device", "cpu", "--steps", "2", "--batch", "32", "--ranks", "2", "--json"])
        ok(t, "bench --ranks 2")
        let tline = try XCTUnwrap(t.stdout.split(separator: "\n").last { $0.hasPrefix("{") }, t.stdout)
        let tobj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(tline.utf8)) as? [String: Any], t.stdout)
        XCTAssertEqual(tobj["ranks"] as? Int, 2, t.stdout)
        XCTAssertEqual(tobj["batch"] as? Int, 16, "--batch is split among in-process ranks: \(t.stdout)")
        for key in ["host_waits", "downloads", "uploads"] { XCTAssertEqual(tobj[key] as? Double, obj[key] as? Double, key) }
        XCTAssertEqual(t.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.count, 1, "one rank prints: \(t.stdout)")
    }

    /// Resuming 2 ranks continues bitwise; 1 process at the same global batch continues
    /// (to rounding); another global batch is refused with a message.
    func testResumeUnderMPI() throws {
        ok(try mpi(trainArgs(batch: 4, steps: 6, out: "full")), "6 steps")
        ok(try mpi(trainArgs(batch: 4, steps: 3, out: "part")), "3 steps")
        ok(try mpi(trainArgs(batch: 4, steps: 6, out: "part", extra: ["--resume"])), "resumed to 6")
        let full = try parameters("full"), part = try parameters("part")
        for (name, v) in full { XCTAssertEqual(part[name], v, "\(name) after resuming under mpirun") }

        ok(try mpi(trainArgs(batch: 4, steps: 3, out: "other")), "3 steps")
        ok(try launch(binary, trainArgs(batch: 8, steps: 6, out: "other", extra: ["--resume"])), "1 process resuming")
        XCTAssertLessThan(relativeDifference(try parameters("other"), full).global, 1e-5)
        let refused = try mpi(trainArgs(batch: 2, steps: 6, out: "other", extra: ["--resume"]))
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("global batch of 8"), refused.stderr)
    }

    /// The pid of rank `rank` among `mpirun`'s children (read from their environments).
    func rankPID(of mpirun: Process, rank: Int) -> pid_t? {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in procs {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == mpirun.processIdentifier,
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) {
                return pid
            }
        }
        return nil
    }

    /// Waits until the run has saved once, then sends `signal` to rank 1.
    func signalRank1(_ signal: Int32, out: String) -> (Process) -> Void {
        let state = dir.appendingPathComponent(out).appendingPathComponent("training-state.safetensors").path
        return { p in
            let deadline = Date().addingTimeInterval(60)
            while p.isRunning && !FileManager.default.fileExists(atPath: state) && Date() < deadline { usleep(50_000) }
            usleep(300_000)
            if let pid = self.rankPID(of: p, rank: 1) { kill(pid, signal) } else { XCTFail("rank 1's process was not found") }
        }
    }

    /// A killed rank ends the job with an error; the checkpoint rank 0 wrote loads.
    func testKilledRankEndsTheJob() throws {
        let r = try mpi(trainArgs(batch: 4, steps: 1_000_000, out: "killed", extra: ["--save-every", "2"]), timeout: 90,
                        watch: signalRank1(SIGKILL, out: "killed"))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rank 1") && r.stderr.contains("signal 9"), r.stderr)
        let p = try parameters("killed")
        XCTAssertFalse(p.isEmpty)
        XCTAssertTrue(p.values.allSatisfy { $0.allSatisfy(\.isFinite) })
        let state = try SafeTensorsFile.read(path: dir.appendingPathComponent("killed/training-state.safetensors").path)
        XCTAssertGreaterThanOrEqual(Int(state.metadata["step"] ?? "") ?? 0, 2)
        XCTAssertEqual(state.metadata["ranks"], "2")
    }

    /// A rank that stops answering (SIGSTOP) ends the job after GLOW_MPI_TIMEOUT seconds.
    func testStoppedRankEndsTheJobAfterTheTimeout() throws {
        let r = try mpi(trainArgs(batch: 4, steps: 1_000_000, out: "stopped", extra: ["--save-every", "2"]),
                        environment: ["GLOW_MPI_TIMEOUT": "3"], timeout: 60, watch: signalRank1(SIGSTOP, out: "stopped"))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rank 0 of 2 waited more than 3 s"), r.stderr)
        XCTAssertFalse(try parameters("stopped").isEmpty)
    }
}
