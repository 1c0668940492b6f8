import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Library-level guarantees of issue 11: the save unit, size bounds and throwing APIs.
final class ReliabilityTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-rel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A checkpoint/state pair of one save (stand-ins: only the metadata matters to `RunFiles`).
    func pair(step: Int, id: String) throws -> (SafeTensorsFile, SafeTensorsFile) {
        var c = SafeTensorsFile(metadata: ["train_step": String(step), "save_id": id])
        try c.add("w", shape: [1], floats: [Float(step)])
        var s = SafeTensorsFile(metadata: ["step": String(step), "save_id": id])
        try s.add("m", shape: [1], floats: [Float(step)])
        return (c, s)
    }

    func write(_ f: SafeTensorsFile, _ path: String) throws { try f.write(path: path) }
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Every moment of a save (the file states between its renames) leaves a consistent pair
    /// that `latest()` finds, and it repairs the main names to hold it.
    func testEveryIntermediateStateOfASaveHasAConsistentPair() throws {
        let files = RunFiles(directory: dir)
        let (c1, s1) = try pair(step: 1, id: "a"), (c2, s2) = try pair(step: 2, id: "b"), (c3, s3) = try pair(step: 3, id: "c")
        // (checkpoint, state, previous checkpoint, previous state) on disk → expected step.
        let cases: [([SafeTensorsFile?], Int)] = [
            ([c2, s2, c1, s1], 2),     // before a save, or after one staged its temporaries
            ([nil, s2, c2, s1], 2),    // checkpoint moved aside
            ([nil, nil, c2, s2], 2),   // both moved aside
            ([c3, nil, c2, s2], 2),    // new checkpoint installed, state not yet
            ([c3, s3, c2, s2], 3),     // complete
            ([c3, s2, nil, nil], -1),  // two different saves and nothing else: an error
        ]
        for (i, (state, want)) in cases.enumerated() {
            for p in [files.checkpoint, files.state, files.previousCheckpoint, files.previousState] { unlink(p) }
            for (f, p) in zip(state, [files.checkpoint, files.state, files.previousCheckpoint, files.previousState]) {
                if let f { try write(f, p) }
            }
            if want < 0 {
                XCTAssertThrowsError(try files.latest(), "case \(i)") { e in
                    XCTAssertTrue("\(e)".contains("holds no checkpoint and training state of the same save"), "\(e)")
                }
                continue
            }
            let got = try files.latest()
            XCTAssertEqual(got.step, want, "case \(i)")
            XCTAssertEqual(got.note != nil, i >= 1 && i <= 3, "case \(i): \(got.note ?? "")")
            // The main names now hold the pair.
            let again = try files.latest()
            XCTAssertEqual(again.step, want); XCTAssertNil(again.note, "case \(i)")
            XCTAssertEqual(try SafeTensorsFile.read(path: files.checkpoint).metadata["train_step"], String(want))
        }
    }

    func testSaveRotatesThePairAndFailsCleanly() throws {
        let files = RunFiles(directory: dir)
        let (c1, s1) = try pair(step: 1, id: "a"), (c2, s2) = try pair(step: 2, id: "b")
        try files.save(checkpoint: c1, state: s1)
        try files.save(checkpoint: c2, state: s2)
        XCTAssertEqual(try SafeTensorsFile.read(path: files.previousState).metadata["step"], "1")
        XCTAssertEqual(try files.latest().step, 2)
        // A save whose state cannot be written (its temporary's name is taken by a folder)
        // replaces nothing and leaves no temporary of the checkpoint behind.
        let blocker = files.state + ".tmp-\(getpid())"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        let (c3, s3) = try pair(step: 3, id: "c")
        XCTAssertThrowsError(try files.save(checkpoint: c3, state: s3)) { e in
            XCTAssertTrue("\(e)".contains("training-state.safetensors: cannot create"), "\(e)")
        }
        try FileManager.default.removeItem(atPath: blocker)
        XCTAssertEqual(try files.latest().step, 2)
        XCTAssertEqual(try SafeTensorsFile.read(path: files.previousState).metadata["step"], "1")
        XCTAssertTrue(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).allSatisfy { !$0.contains(".tmp-") })
    }

    func testFaultInjectionRules() {
        let f = FaultInjection("state.safetensors@2,metrics")
        XCTAssertFalse(f.shouldFail("/r/training-state.safetensors"))
        XCTAssertTrue(f.shouldFail("/r/training-state.safetensors"))
        XCTAssertTrue(f.shouldFail("/r/training-state.safetensors"))
        XCTAssertTrue(f.shouldFail("/r/metrics.jsonl"))
        XCTAssertFalse(f.shouldFail("/r/checkpoint.safetensors"))
        XCTAssertFalse(FaultInjection("").shouldFail("/r/metrics.jsonl"))
    }

    func testAppendFailureIsAnErrorNotACrash() throws {
        XCTAssertThrowsError(try AtomicFile.append(Array("{}\n".utf8), to: "/dev/full")) { e in
            XCTAssertTrue("\(e)".contains("No space left on device"), "\(e)")
        }
        XCTAssertThrowsError(try AtomicFile.write([1, 2, 3], to: dir + "/no/such/folder/file")) { e in
            XCTAssertTrue("\(e)".contains("No such file or directory"), "\(e)")
        }
    }

    func testStaleTemporariesOfDeadProcessesOnly() throws {
        for name in ["a.safetensors.tmp-4194305", "b.png.tmp-\(getpid())", "c.png.tmp-1", "d.tmp-x"] {
            XCTAssert(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data([1])), name)
        }
        // Pid 1 runs; our own pid runs; "x" is not a pid.
        XCTAssertEqual(AtomicFile.removeStaleTemporaries(in: dir), ["a.safetensors.tmp-4194305"])
    }

    // MARK: Bounds

    func configFile(_ json: String) -> SafeTensorsFile {
        SafeTensorsFile(metadata: ["format": Checkpoint.format, "config": json])
    }

    func testCheckpointConfigsAskingForTooMuchAreNamedErrors() throws {
        func cfg(_ k: Any, hidden: Any = 16, shape: String = "[1, 8, 8]", classes: Any = 0) -> String {
            "{\"image_shape\": \(shape), \"K\": \(k), \"L\": 2, \"hidden\": \(hidden), \"coupling\": \"affine\", "
                + "\"permutation\": \"invconv\", \"lu\": true, \"learn_top\": true, \"classes\": \(classes), \"n_bits\": 8, \"pad\": 0}"
        }
        for (json, words) in [(cfg(1_000_000_000), ["config K/L/hidden", "K=1000000000", "needs"]),
                              (cfg(2, hidden: 10_000_000), ["config K/L/hidden", "hidden=10000000", "needs"]),
                              (cfg(2, shape: "[1, 4294967296, 4294967296]"), ["config image_shape", "past the largest integer"]),
                              (cfg(2, shape: "[3, 1048576, 1048576]"), ["config image_shape", "needs"]),
                              (cfg(2, classes: 4_000_000_000_000_000_000), ["config K/L/hidden/classes", "past the largest integer"])] {
            XCTAssertThrowsError(try Checkpoint.load(configFile(json), source: "big.safetensors", backend: TestBackends.cpu)) { e in
                for w in words { XCTAssertTrue("\(e)".contains(w), "\(e) lacks \(w)") }
                XCTAssertTrue("\(e)".hasPrefix("big.safetensors: "), "\(e)")
            }
        }
        XCTAssertNoThrow(try GlowConfig.named("paper").validate())
    }

    func testCPUAllocationFailureThrows() throws {
        XCTAssertThrowsError(try TestBackends.cpu.allocate(Int.max / 2)) { e in
            XCTAssertTrue("\(e)".contains("cpu: cannot allocate"), "\(e)")
        }
        XCTAssertThrowsError(try TestBackends.cpu.allocate(1 << 50)) { e in   // 4 PB
            XCTAssertTrue("\(e)".contains("out of memory"), "\(e)")
        }
        XCTAssertEqual(try TestBackends.cpu.allocate(3).count, 3)
    }

    func testMemoryLimit() {
        XCTAssertNil(Sizes.product([1 << 40, 1 << 40]))
        XCTAssertNil(Sizes.product([-1, 2]))
        XCTAssertEqual(Sizes.product([3, 5, 7]), 105)
        XCTAssertNil(MemoryLimit.sum([Int.max, 1]))
        XCTAssertGreaterThan(MemoryLimit.physicalBytes, 1 << 28)
        XCTAssertThrowsError(try MemoryLimit.check(elements: [1 << 30, 1 << 30], bytesEach: 4, what: "x"))
    }

    func testGridsTooLargeToWriteAreErrors() {
        XCTAssertThrowsError(try ImageGrid.make(images: [UInt8](repeating: 0, count: 64), count: 1, channels: 1, height: 8, width: 8,
                                                columns: 1_000_000_000)) { e in
            XCTAssertTrue("\(e)".contains("too large to write"), "\(e)")
        }
        XCTAssertThrowsError(try ImageGrid.make(images: [], count: Int.max, channels: 3, height: 1 << 40, width: 1 << 40, columns: 1))
    }

    func testTransformsRefuseOutputsThatCannotFit() throws {
        let set = try ImageSet(count: 2, channels: 1, height: 2, width: 2, pixels: [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertThrowsError(try ImageTransform.pad(set, by: Int.max / 2)) { e in XCTAssertTrue("\(e)".contains("pad"), "\(e)") }
        XCTAssertThrowsError(try ImageTransform.pad(set, by: 10_000_000)) { e in XCTAssertTrue("\(e)".contains("needs"), "\(e)") }
        XCTAssertThrowsError(try ImageTransform.resizeArea(set, to: 10_000_000)) { e in XCTAssertTrue("\(e)".contains("needs"), "\(e)") }
        XCTAssertEqual(try ImageTransform.pad(set, by: 1).height, 4)
    }

    // MARK: Throwing instead of trapping

    func testPublicAPIsThrowOnBadCallerData() throws {
        XCTAssertThrowsError(try ImageSet(count: 2, channels: 1, height: 2, width: 2, pixels: [1]))
        XCTAssertThrowsError(try ImageSet(count: 1, channels: 0, height: 2, width: 2, pixels: []))
        XCTAssertThrowsError(try ImageSet(count: 1, channels: 1, height: 1, width: 1, pixels: [1], labels: [1, 2]))
        XCTAssertThrowsError(try ImageSet(count: Int.max, channels: 2, height: 2, width: 2, pixels: []))
        let set = try ImageSet(count: 2, channels: 1, height: 1, width: 1, pixels: [7, 9], labels: [0, 1], classes: 2)
        XCTAssertThrowsError(try set.subset([0, 2]))
        XCTAssertThrowsError(try set.subset([-1]))
        XCTAssertThrowsError(try set.image(at: 2))
        XCTAssertEqual(try set.subset([1, 1]).pixels, [9, 9])
        XCTAssertThrowsError(try Preprocess.toModel(pixels: [1], nBits: 0))
        XCTAssertThrowsError(try Preprocess.toModel(pixels: [1][...], nBits: 9))
        XCTAssertThrowsError(try Preprocess.toPixels([0], nBits: 64))
        XCTAssertThrowsError(try Shuffle.permutation(count: -1, seed: 0))
        XCTAssertThrowsError(try Parameter(TestBackends.cpu, name: "p", shape: [2, 3], values: [1, 2]))
        XCTAssertThrowsError(try Parameter(TestBackends.cpu, name: "p", shape: [1 << 40, 1 << 40], values: []))
        XCTAssertThrowsError(try Matrix64(n: 2, values: [1, 2, 3]))
        XCTAssertThrowsError(try Matrix64(n: -1, values: []))
        XCTAssertEqual(try Matrix64(n: 1, values: [2]).values, [2])
    }

    func testEvaluationOfAnEmptySetIsAnError() throws {
        let (model, _) = try makeTestModel(TestBackends.cpu, CLITests.config, seed: 5, images: 4)
        let empty = try ImageSet(count: 0, channels: 1, height: 8, width: 8, pixels: [])
        XCTAssertThrowsError(try Evaluation.meanBPD(model, empty, batch: 4)) { e in XCTAssertTrue("\(e)".contains("empty"), "\(e)") }
        let one = try ImageSet(count: 1, channels: 1, height: 8, width: 8, pixels: [UInt8](repeating: 3, count: 64))
        XCTAssertTrue(try Evaluation.meanBPD(model, one, batch: Int.max).isFinite)
    }

    func testNonFiniteSamplesAndDecodesAreErrors() throws {
        let (glow, _) = try makeTestModel(TestBackends.cpu, CLITests.config, seed: 5, images: 4)
        let model = try GlowModel(glow)
        XCTAssertThrowsError(try model.sample(count: 2, temperature: 1e30, seed: 1)) { e in
            XCTAssertTrue("\(e)".contains("non-finite"), "\(e)")
        }
        XCTAssertThrowsError(try model.sample(count: 1_000_000_000_000, temperature: 0.7)) { e in
            XCTAssertTrue("\(e)".contains("needs"), "\(e)")
        }
        XCTAssertThrowsError(try model.sample(count: 1, temperature: .infinity))
        let z = try model.encode(model.sample(count: 1, temperature: 0.7, seed: 2).imageSet)
        var levels = z.levels
        levels[0][0] = .nan
        XCTAssertThrowsError(try model.decode(Latents(count: 1, shapes: z.shapes, levels: levels))) { e in
            XCTAssertTrue("\(e)".contains("z.0 of image 0 holds a non-finite value"), "\(e)")
        }
        levels[0][0] = 3e38
        levels[1] = levels[1].map { _ in 3e38 }
        XCTAssertThrowsError(try model.decode(Latents(count: 1, shapes: z.shapes, levels: levels))) { e in
            XCTAssertTrue("\(e)".contains("non-finite"), "\(e)")
        }
    }
}
