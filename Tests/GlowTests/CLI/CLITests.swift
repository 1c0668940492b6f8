import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Runs the built `glow-gpu` binary on a tiny checkpoint saved by the test.
final class CLITests: XCTestCase {
    /// The `glow-gpu` executable built with these tests: `GLOW_GPU_BINARY` when set, else the
    /// products directory holding the test bundle (found from `/proc/self/exe` and `Bundle`),
    /// else `<package>/.build*/debug/glow-gpu`.
    static let binary: URL? = {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["GLOW_GPU_BINARY"] { return URL(fileURLWithPath: env) }
        var dirs: [URL] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            dirs.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        for bundle in [Bundle(for: CLITests.self), Bundle.main] {
            // The bundle may be the `.xctest` itself (products dir = its parent) or a directory
            // inside it; walk up a few levels.
            var u = bundle.bundleURL
            for _ in 0 ..< 4 { dirs.append(u); u = u.deletingLastPathComponent() }
        }
        let root = TestPaths.root
        for scratch in [".build-cli", ".build"] { dirs.append(root.appendingPathComponent(scratch).appendingPathComponent("debug")) }
        for d in dirs {
            let candidate = d.appendingPathComponent("glow-gpu")
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue, fm.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        return nil
    }()

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    /// Runs `glow-gpu args…` in `directory` (with `environment` added to this process's)
    /// and returns its exit status and output.
    func run(_ args: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        guard let bin = Self.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        let p = Process()
        p.executableURL = bin
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { p.currentDirectoryURL = directory }
        // Output goes to files, so that neither stream can fill a pipe and block the child.
        let tmp = FileManager.default.temporaryDirectory
        let outURL = tmp.appendingPathComponent("glow-cli-\(UUID().uuidString).out")
        let errURL = tmp.appendingPathComponent("glow-cli-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        p.standardOutput = out; p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close(); try err.close()
        return Result(status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    func runOK(_ args: [String], in directory: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let r = try run(args, in: directory)
        XCTAssertEqual(r.status, 0, "glow-gpu \(args.joined(separator: " ")) failed:\n\(r.stdout)\n\(r.stderr)", file: file, line: line)
        return r
    }

    static let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8)

    /// A tiny checkpoint (made and saved on the CPU) and the in-process model.
    func makeCheckpoint(_ dir: URL) throws -> (String, Glow<CPUBackend>) {
        let (model, _) = try makeTestModel(TestBackends.cpu, Self.config, seed: 21, images: 4)
        let path = dir.appendingPathComponent("tiny.safetensors").path
        try Checkpoint.save(model, to: path)
        return (path, model)
    }

    /// The devices to run the binary on: cpu, and opencl when the tests have an OpenCL device.
    func devices() throws -> [String] { try TestBackends.openCL() == nil ? ["cpu"] : ["cpu", "opencl"] }

    /// encode --input → decode gives back x; the latent file holds what the spec lists and
    /// matches the in-process encoder.
    func testEncodeDecodeRoundTrip() throws {
        guard Self.binary != nil else { throw XCTSkip("the glow-gpu binary was not found next to the test bundle nor in .build*/debug") }
        let dir = try makeTempDirectory(self)
        let (ckpt, model) = try makeCheckpoint(dir)
        let n = 3
        let x = randomValues(n * 64, seed: 5, stream: 2, low: -0.5, high: 0.5)
        var input = SafeTensorsFile()
        try input.add("x", shape: [n, 1, 8, 8], floats: x)
        let inPath = dir.appendingPathComponent("x.safetensors").path
        try input.write(path: inPath)
        let enc = try model.encode(try Tensor(TestBackends.cpu, nchw: x, images: n, channels: 1, height: 8, width: 8))

        for device in try devices() {
            let zPath = dir.appendingPathComponent("z-\(device).safetensors").path
            let r = try runOK(["encode", "--checkpoint", ckpt, "--input", inPath, "--device", device, "--out", zPath])
            XCTAssert(r.stdout.contains("encoded 3 images") && r.stdout.contains("mean bpd"), "summary: \(r.stdout)")
            let f = try SafeTensorsFile.read(path: zPath)
            XCTAssertEqual(f.metadata["format"], "glow-gpu-latents/1")
            XCTAssertEqual(try GlowConfig.parse(json: f.metadata["config"] ?? "", source: "z").withBatchDefault, Self.config.withBatchDefault)
            XCTAssertEqual(try f.requireFloats("x", shape: [n, 1, 8, 8]), x, "\(device): x is the exact input")
            for (i, z) in enc.latents.enumerated() {
                let got = try f.requireFloats("z.\(i)", shape: [n, z.channels, z.height, z.width])
                XCTAssertLessThan(normwiseError(got, try z.nchw().map(Double.init)), 1e-4, "\(device): z.\(i) vs in-process encode")
            }
            for name in ["logdet", "logp", "objective", "bpd"] {
                XCTAssertEqual(try f.requireFloats(name, shape: [n]).count, n)
            }
            let bpd = try f.requireFloats("bpd", shape: [n])
            for k in 0 ..< n { XCTAssertEqual(Double(bpd[k]), enc.bpd[k], accuracy: 1e-3 * max(1, abs(enc.bpd[k])), "\(device) bpd") }

            let yPath = dir.appendingPathComponent("y-\(device).safetensors").path
            _ = try runOK(["decode", "--checkpoint", ckpt, "--latents", zPath, "--device", device, "--out", yPath])
            let y = try SafeTensorsFile.read(path: yPath).requireFloats("x", shape: [n, 1, 8, 8])
            XCTAssertLessThan(zip(y, x).map { abs($0 - $1) }.max() ?? .infinity, 1e-4, "\(device): decode(encode(x)) = x")

            // Decode to a PNG: 3 images, ⌈√3⌉ = 2 columns, 2 rows, 1-pixel borders.
            let png = dir.appendingPathComponent("y-\(device).png").path
            _ = try runOK(["decode", "--checkpoint", ckpt, "--latents", zPath, "--device", device, "--out", png])
            let img = try PNGImage.read(path: png)
            XCTAssertEqual([img.width, img.height, img.channels], [2 * 8 + 3, 2 * 8 + 3, 1])
        }

        // A latent file whose z.1 has the wrong shape: the error names the tensor.
        var bad = try SafeTensorsFile.read(path: dir.appendingPathComponent("z-cpu.safetensors").path)
        try bad.add("z.1", shape: [n, 4, 2, 2], floats: [Float](repeating: 0, count: n * 16))
        let badPath = dir.appendingPathComponent("bad-z.safetensors").path
        try bad.write(path: badPath)
        let r = try run(["decode", "--checkpoint", ckpt, "--latents", badPath, "--device", "cpu", "--out", dir.appendingPathComponent("q.png").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("'z.1'") && r.stderr.contains(badPath), "stderr: \(r.stderr)")
    }

    /// sample writes PNG grids of the expected size (one row per temperature) and safetensors.
    func testSample() throws {
        guard Self.binary != nil else { throw XCTSkip("the glow-gpu binary was not found next to the test bundle nor in .build*/debug") }
        let dir = try makeTempDirectory(self)
        let (ckpt, model) = try makeCheckpoint(dir)
        let png = dir.appendingPathComponent("s.png").path
        let r = try runOK(["sample", "--checkpoint", ckpt, "--device", "cpu", "--count", "6", "--seed", "3", "--out", png])
        XCTAssert(r.stdout.contains("sampled 6 images"), r.stdout)
        var img = try PNGImage.read(path: png)
        // ⌈√6⌉ = 3 columns, 2 rows of 8×8 cells, 1-pixel borders.
        XCTAssertEqual([img.width, img.height, img.channels], [3 * 8 + 4, 2 * 8 + 3, 1])

        let rows = dir.appendingPathComponent("rows.png").path
        _ = try runOK(["sample", "--checkpoint", ckpt, "--device", "cpu", "--count", "4", "--temperatures", "0,0.5,1", "--out", rows])
        img = try PNGImage.read(path: rows)
        XCTAssertEqual([img.width, img.height], [4 * 8 + 5, 3 * 8 + 4], "one row of 4 per temperature")

        // safetensors: x equals the in-process sample with the same seed; temperature per image.
        let st = dir.appendingPathComponent("s.safetensors").path
        _ = try runOK(["sample", "--checkpoint", ckpt, "--device", "cpu", "--count", "2", "--temperatures", "0.5,1",
                       "--seed", "9", "--out", st])
        let f = try SafeTensorsFile.read(path: st)
        XCTAssertEqual(try f.requireFloats("temperature", shape: [4]), [0.5, 0.5, 1, 1])
        let xs = try f.requireFloats("x", shape: [4, 1, 8, 8])
        let expected = try model.sample(count: 2, temperature: 0.5, seed: 9).nchw() + model.sample(count: 2, temperature: 1, seed: 9).nchw()
        XCTAssertLessThan(zip(xs, expected).map { abs($0 - $1) }.max() ?? .infinity, 1e-5)

        let cls = try run(["sample", "--checkpoint", ckpt, "--device", "cpu", "--class", "1", "--out", png])
        XCTAssertNotEqual(cls.status, 0)
        XCTAssert(cls.stderr.contains("unconditional"), cls.stderr)
    }

    /// A missing or broken checkpoint: non-zero exit and a message naming the file.
    func testBadCheckpoint() throws {
        guard Self.binary != nil else { throw XCTSkip("the glow-gpu binary was not found next to the test bundle nor in .build*/debug") }
        let dir = try makeTempDirectory(self)
        let absent = dir.appendingPathComponent("no-such-model.safetensors").path
        let out = dir.appendingPathComponent("s.png").path
        var r = try run(["sample", "--checkpoint", absent, "--device", "cpu", "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains(absent), "stderr names the file: \(r.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))

        let junk = dir.appendingPathComponent("junk.safetensors").path
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: junk))
        r = try run(["encode", "--checkpoint", junk, "--device", "cpu", "--dataset", "mnist", "--out", dir.appendingPathComponent("z.safetensors").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains(junk) && r.stderr.contains("header length"), "stderr: \(r.stderr)")

        r = try run(["sample", "--checkpoint", absent, "--out", dir.appendingPathComponent("s.jpg").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains(".png or .safetensors"), "stderr: \(r.stderr)")
    }

    /// The dataset routes on the repository's MNIST, found from the executable's directory
    /// (the test runs in a temporary directory), resampled to the model's 8×8: encode,
    /// interpolate, manipulate; and a PNG folder.
    func testDatasetCommands() throws {
        guard Self.binary != nil else { throw XCTSkip("the glow-gpu binary was not found next to the test bundle nor in .build*/debug") }
        let dir = try makeTempDirectory(self)
        let (ckpt, model) = try makeCheckpoint(dir)
        let g = try GlowModel(model)
        guard let mnistDir = DatasetLoader.defaultMNISTDirectory(currentDirectory: dir.path, executable: Self.binary?.path) else {
            throw XCTSkip("no data/mnist above the glow-gpu binary")
        }
        let z = dir.appendingPathComponent("z.safetensors").path
        _ = try runOK(["encode", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "mnist", "--image-size", "8",
                       "--count", "3", "--offset", "5", "--out", z], in: dir)
        let set = try DatasetLoader.prepare(try DatasetLoader.range(try IDXReader.load(directory: mnistDir, split: "test"),
                                                                    offset: 5, count: 3), imageSize: 8, pad: 0)
        let f = try SafeTensorsFile.read(path: z)
        XCTAssertEqual(try f.requireFloats("x", shape: [3, 1, 8, 8]), try Preprocess.toModel(pixels: set.pixels, nBits: 8))
        let enc = try g.encode(set)
        XCTAssertLessThan(normwiseError(try f.requireFloats("z.1", shape: [3, 8, 2, 2]), enc.levels[1].map(Double.init)), 1e-5)

        // With noise: x - clean lies in [0, 1/256).
        _ = try runOK(["encode", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "mnist", "--image-size", "8",
                       "--count", "3", "--offset", "5", "--noise", "uniform", "--seed", "4", "--out", z], in: dir)
        let noisy = try SafeTensorsFile.read(path: z).requireFloats("x", shape: [3, 1, 8, 8])
        let d = zip(noisy, try Preprocess.toModel(pixels: set.pixels, nBits: 8)).map { $0 - $1 }
        XCTAssert(d.allSatisfy { $0 >= 0 && $0 < 1.0 / 256 + 1e-6 } && d.contains { $0 > 1e-4 }, "uniform dequantisation noise")

        // The model is 8×8: without --image-size the 28×28 images do not fit; both shapes are named.
        let r = try run(["encode", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "mnist", "--count", "2", "--out", z], in: dir)
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("1×28×28") && r.stderr.contains("1×8×8"), r.stderr)

        let interp = dir.appendingPathComponent("interp.png").path
        _ = try runOK(["interpolate", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "mnist", "--image-size", "8",
                       "--from", "0", "--to", "1", "--steps", "5", "--out", interp], in: dir)
        let ip = try PNGImage.read(path: interp)
        XCTAssertEqual([ip.width, ip.height], [5 * 8 + 6, 8 + 2])
        // Its first cell is the reconstruction of image 0 (up to one quantisation level).
        let cell0 = (0 ..< 8).flatMap { y in (0 ..< 8).map { x in ip.pixels[(1 + y) * ip.width + 1 + x] } }
        let full = try DatasetLoader.prepare(try IDXReader.load(directory: mnistDir, split: "test"), imageSize: 8, pad: 0)
        let diff = zip(cell0, try full.image(at: 0)).map { abs(Int($0) - Int($1)) }.max() ?? 99
        XCTAssertLessThanOrEqual(diff, 1)

        let manip = dir.appendingPathComponent("manip.png").path
        let m = try runOK(["manipulate", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "mnist", "--image-size", "8",
                           "--label", "3", "--index", "2", "--count", "5", "--alphas", "-1,0,1", "--out", manip], in: dir)
        XCTAssert(m.stdout.contains("5 images with it, 5 without"), m.stdout)
        let mp = try PNGImage.read(path: manip)
        XCTAssertEqual([mp.width, mp.height], [3 * 8 + 4, 8 + 2])

        // A PNG folder: two 8×8 gray images.
        let folder = dir.appendingPathComponent("pngs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let px = (0 ..< 128).map { UInt8(($0 * 7) % 256) }
        try PNGImage.write(path: folder.appendingPathComponent("a.png").path, width: 8, height: 8, channels: 1, pixels: Array(px[0 ..< 64]))
        try PNGImage.write(path: folder.appendingPathComponent("b.png").path, width: 8, height: 8, channels: 1, pixels: Array(px[64...]))
        _ = try runOK(["encode", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "folder", "--data", folder.path, "--out", z], in: dir)
        XCTAssertEqual(try SafeTensorsFile.read(path: z).requireFloats("x", shape: [2, 1, 8, 8]), try Preprocess.toModel(pixels: px, nBits: 8))

        let noData = try run(["encode", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "cifar10", "--out", z], in: dir)
        XCTAssertNotEqual(noData.status, 0)
        XCTAssert(noData.stderr.contains("--data"), noData.stderr)
    }
}

extension CLITests {
    /// `train` writes samples.png as two rows of 8 per temperature (0, 0.5, 0.7, 0.9) with the
    /// same noise in each pair of rows: at T = 0 every image is the prior's mean (all 16
    /// equal), at 0.9 they differ, and the final line names the temperatures.
    func testTrainSampleGridHasARowPairPerTemperature() throws {
        let dir = try makeTempDirectory(self)
        let out = dir.appendingPathComponent("run").path
        let r = try runOK(["train", "--config", "tiny", "--steps", "2", "--no-test", "--device", "cpu", "--out", out])
        XCTAssert(r.stdout.contains("samples.png (two rows each at T = 0, 0.5, 0.7, 0.9)"), r.stdout)
        let png = try PNGImage.read(path: out + "/samples.png")
        let size = (png.width - 9) / 8   // 8 columns of size × size tiles, 1-pixel borders
        XCTAssertEqual(png.width, 8 * size + 9)
        XCTAssertEqual(png.height, 8 * size + 9, "8 rows: 2 per temperature")
        func tile(_ row: Int, _ col: Int) -> [UInt8] {
            (0..<size).flatMap { y in (0..<size).map { x in png.pixels[(1 + row * (size + 1) + y) * png.width + 1 + col * (size + 1) + x] } }
        }
        let zero = (0..<2).flatMap { r in (0..<8).map { tile(r, $0) } }
        XCTAssert(zero.allSatisfy { $0 == zero[0] }, "T = 0 draws the prior's mean for every image")
        let hot = (6..<8).flatMap { r in (0..<8).map { tile(r, $0) } }
        XCTAssertGreaterThan(Set(hot.map { $0.description }).count, 8, "T = 0.9 draws different images")
    }
}
