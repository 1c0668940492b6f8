import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// The CUDA backend's Swift side end to end without a GPU: Tests/CUDAEmulator/cuda_emulator.cpp
/// (a CPU stand-in for libcuda and cuBLAS that runs kernels.cl's CUDA translation) is built
/// with clang++, and the glow-gpu binary runs with `GLOW_CUDA_PATH` pointing at it. Checks
/// argument passing, launch geometry, offsets, the row-major → column-major cuBLAS mapping
/// and the TF32 routing against the CPU backend. NVRTC still compiles the real module.
final class CUDAEmulatorTests: XCTestCase {
    /// The emulator's folder (libcuda.so.1 and libcublas.so.13), built once per test run.
    nonisolated(unsafe) static var built: Result<URL, Error>?

    static func buildEmulator() throws -> URL {
        let clang = try findClang()
        if let built { return try built.get() }
        let result = Result<URL, Error> {
            let root = TestPaths.root
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-cuda-emulator-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let lib = dir.appendingPathComponent("libglowcudaemu.so")
            // kernels.cl with the defines the backend gives NVRTC for the emulated device, so
            // the emulator runs the variant whose launch geometry the backend uses.
            let device = CUDADeviceInfo(index: 0, name: "glow-gpu CUDA emulator (CPU)", major: 9, minor: 0,
                                        memory: 1 << 30, multiprocessors: 1)
            let defines = try CUDABackend.defaultTuning(for: device).defines
            let p = Process()
            p.executableURL = URL(fileURLWithPath: clang)
            p.arguments = defines + ["-std=c++17", "-O1", "-shared", "-fPIC", "-w", "-I", root.appendingPathComponent("Sources/Kernels").path,
                           "-I", root.appendingPathComponent("Sources/CCUDA/include").path,
                           "-DGLOW_EMU_KERNELS=" + Kernel.all.map { "X(\($0.name))" }.joined(separator: " "),
                           root.appendingPathComponent("Tests/CUDAEmulator/cuda_emulator.cpp").path, "-o", lib.path]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw GlowError("building the CUDA emulator failed:\n\(message)") }
            for name in ["libcuda.so.1", "libcublas.so.13"] {
                try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent(name).path, withDestinationPath: lib.path)
            }
            return dir
        }
        built = result
        return try result.get()
    }

    /// clang++ on `environment`'s PATH. Without one: XCTSkip, or under `GLOW_REQUIRE_CLANG=1`
    /// (CI) an error, which fails every test that needs the emulator.
    static func findClang(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        if let clang = path.map({ $0 + "/clang++" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return clang
        }
        if environment["GLOW_REQUIRE_CLANG"] == "1" {
            throw GlowError("GLOW_REQUIRE_CLANG=1 but clang++ is not on PATH (it comes with the Swift toolchain): the CUDA emulator cannot be built")
        }
        throw XCTSkip("clang++ not on PATH (it comes with the Swift toolchain)")
    }

    /// A missing clang++ skips the emulator's tests, unless `GLOW_REQUIRE_CLANG=1` makes it
    /// a failure.
    func testMissingClangSkipsUnlessRequired() throws {
        XCTAssertThrowsError(try Self.findClang(environment: ["PATH": "/nonexistent"])) { XCTAssert($0 is XCTSkip, "\($0)") }
        XCTAssertThrowsError(try Self.findClang(environment: ["PATH": "/nonexistent", "GLOW_REQUIRE_CLANG": "1"])) {
            XCTAssertFalse($0 is XCTSkip)
            XCTAssert("\($0)".contains("GLOW_REQUIRE_CLANG=1"), "\($0)")
        }
        // The one on this PATH is found behind a folder without one.
        if let found = try? Self.findClang() {
            XCTAssertEqual(try Self.findClang(environment: ["PATH": "/nonexistent:" + URL(fileURLWithPath: found).deletingLastPathComponent().path,
                                                            "GLOW_REQUIRE_CLANG": "1"]), found)
        }
    }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    /// Runs glow-gpu with the emulator as the CUDA driver and a module cache shared by the runs;
    /// `environment` adds to (or, with "", removes from) the process's environment. Asserts a
    /// zero exit status unless `expectSuccess` is false.
    func glow(_ args: [String], environment: [String: String] = [:], binary: URL? = nil, directory: URL? = nil,
              expectSuccess: Bool = true) throws -> Run {
        try requireNVRTC()
        guard let bin = binary ?? CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        let emulator = try Self.buildEmulator()
        let p = Process()
        p.executableURL = bin
        p.arguments = args
        if let directory { p.currentDirectoryURL = directory }
        var env = ProcessInfo.processInfo.environment.merging(
            ["GLOW_CUDA_PATH": emulator.path, "GLOW_CUDA_CACHE": emulator.appendingPathComponent("cache").path]) { $1 }
        for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
        p.environment = env
        let dir = try makeTempDirectory(self)
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        p.standardOutput = out; p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close(); try err.close()
        let r = Run(status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                    stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
        if expectSuccess { XCTAssertEqual(r.status, 0, "glow-gpu \(args.joined(separator: " ")):\n\(r.stdout)\n\(r.stderr)") }
        return r
    }

    /// The emulator's counters from a run's stderr: launches, sgemm, TF32 gemmEx, allocations.
    func counters(_ r: Run) -> (launches: Int, sgemm: Int, tf32: Int, allocations: Int) {
        let n = emulatorNumbers(r)
        return n.count >= 4 ? (n[0], n[2], n[3], n[1]) : (0, 0, 0, 0)
    }

    /// The emulator's graph counters from a run's stderr: graph launches, operations captured
    /// into graphs, and operations run by graph launches.
    func graphCounters(_ r: Run) -> (launches: Int, captured: Int, replayed: Int) {
        guard let line = r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("cuda-emulator:") }) else { return (0, 0, 0) }
        func count(_ label: String) -> Int {
            line.split(separator: ",").lazy.compactMap { part -> Int? in
                let words = part.split(separator: " ")
                return words.dropFirst().joined(separator: " ") == label ? words.first.flatMap { Int($0) } : nil
            }.first ?? 0
        }
        return (count("graph launches"), count("captured operations"), count("replayed operations"))
    }

    /// The numbers of the emulator's report line, in order ("TF32" gives a 32 of its own).
    private func emulatorNumbers(_ r: Run) -> [Int] {
        guard let line = r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("cuda-emulator:") }) else { return [] }
        return line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }

    /// The emulator's barriers: its 16×16-tiled transpose through `__local` memory, launched
    /// in-process through the emulator's own cuLaunchKernel, is exact (it would read
    /// unwritten tile entries if a thread passed the barrier early).
    func testEmulatorBarriers() throws {
        let dir = try Self.buildEmulator()
        guard let h = dlopen(dir.appendingPathComponent("libglowcudaemu.so").path, RTLD_NOW | RTLD_LOCAL) else {
            return XCTFail(String(cString: dlerror()))
        }
        defer { dlclose(h) }
        typealias GetFunction = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> Int32
        typealias Launch = @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OpaquePointer?,
                                           UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
        let getFunction = unsafeBitCast(dlsym(h, "cuModuleGetFunction"), to: GetFunction.self)
        let launch = unsafeBitCast(dlsym(h, "cuLaunchKernel"), to: Launch.self)
        var f: OpaquePointer?
        XCTAssertEqual(getFunction(&f, nil, "emulator_transpose"), 0)
        let n = 48
        var x = (0..<(n * n)).map { Float($0) }, y = [Float](repeating: -1, count: n * n)
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                var slots: [UInt64] = [UInt64(UInt(bitPattern: xp.baseAddress)), UInt64(UInt(bitPattern: yp.baseAddress)), UInt64(n)]
                slots.withUnsafeMutableBufferPointer { s in
                    var params = (0..<3).map { UnsafeMutableRawPointer(s.baseAddress! + $0) as UnsafeMutableRawPointer? }
                    XCTAssertEqual(launch(f, 3, 3, 1, 16, 16, 1, 0, nil, &params, nil), 0)
                }
            }
        }
        XCTAssertEqual(y, (0..<(n * n)).map { Float(($0 % n) * n + $0 / n) }, "transpose through __local tiles")
    }

    func testDevicesListsTheEmulatedDevice() throws {
        let r = try glow(["devices", "--check"])
        XCTAssertTrue(r.stdout.contains("cuda:0     glow-gpu CUDA emulator (CPU)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("compute capability 9.0 (sm_90)") && r.stdout.contains("cuBLAS 13.0.0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("kernels.cl compiled by NVRTC") && r.stdout.contains("--gpu-architecture=sm_90"), r.stdout)
    }

    /// encode and decode on "cuda" match the in-process CPU model.
    func testEncodeDecodeMatchCPU() throws {
        let dir = try makeTempDirectory(self)
        let (model, _) = try makeTestModel(TestBackends.cpu, CLITests.config, seed: 21, images: 4)
        let ckpt = dir.appendingPathComponent("tiny.safetensors").path
        try Checkpoint.save(model, to: ckpt)
        let n = 3
        let x = randomValues(n * 64, seed: 5, stream: 2, low: -0.5, high: 0.5)
        var input = SafeTensorsFile()
        try input.add("x", shape: [n, 1, 8, 8], floats: x)
        let inPath = dir.appendingPathComponent("x.safetensors").path
        try input.write(path: inPath)
        let enc = try model.encode(try Tensor(TestBackends.cpu, nchw: x, images: n, channels: 1, height: 8, width: 8))
        let zPath = dir.appendingPathComponent("z.safetensors").path
        let r = try glow(["encode", "--checkpoint", ckpt, "--input", inPath, "--device", "cuda", "--out", zPath])
        XCTAssertGreaterThan(counters(r).launches, 0, r.stderr)
        let f = try SafeTensorsFile.read(path: zPath)
        for (i, z) in enc.latents.enumerated() {
            let got = try f.requireFloats("z.\(i)", shape: [n, z.channels, z.height, z.width])
            XCTAssertLessThan(normwiseError(got, try z.nchw().map(Double.init)), 1e-5, "z.\(i) on cuda vs cpu")
        }
        let bpd = try f.requireFloats("bpd", shape: [n])
        for k in 0..<n { XCTAssertEqual(Double(bpd[k]), enc.bpd[k], accuracy: 1e-4 * abs(enc.bpd[k]), "bpd") }
        let yPath = dir.appendingPathComponent("y.safetensors").path
        _ = try glow(["decode", "--checkpoint", ckpt, "--latents", zPath, "--device", "cuda", "--out", yPath])
        let y = try SafeTensorsFile.read(path: yPath).requireFloats("x", shape: [n, 1, 8, 8])
        XCTAssertLessThan(zip(y, x).map { abs($0 - $1) }.max() ?? .infinity, 1e-4, "decode(encode(x)) = x on cuda")
    }

    /// Three training steps on "cuda" follow the CPU backend's; with --precision tf32 the
    /// coupling networks' GEMMs go through cublasGemmEx(TF32) and the rest stays Sgemm.
    func testTrainingMatchesCPUAndTF32IsRouted() throws {
        let dir = try makeTempDirectory(self)
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<8 {
            let pixels = (0..<64).map { UInt8(truncatingIfNeeded: ($0 * 37 + i * 91) % 256) }
            try PNGImage.write(path: images.appendingPathComponent("\(i).png").path, width: 8, height: 8, channels: 1, pixels: pixels)
        }
        func train(_ device: String, _ precision: String) throws -> ([Double], Run) {
            let out = dir.appendingPathComponent("\(device)-\(precision)").path
            let r = try glow(["train", "--config", "tiny", "--dataset", "folder", "--data", images.path, "--steps", "3",
                              "--warmup", "1", "--eval-every", "0", "--sample-every", "0", "--save-every", "100",
                              "--device", device, "--precision", precision, "--out", out])
            let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            let bpd = try lines.map { l -> Double in
                let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]
                return (o?["train_bpd"] as? Double) ?? .nan
            }
            return (bpd, r)
        }
        let (cpu, _) = try train("cpu", "fp32")
        let (fp32, r32) = try train("cuda", "fp32")
        let (tf32, rTF) = try train("cuda", "tf32")
        XCTAssertEqual(cpu.count, 3)
        XCTAssertEqual(fp32.count, cpu.count)
        for (a, b) in zip(fp32, cpu) { XCTAssertEqual(a, b, accuracy: 1e-4 * abs(b), "train bpd, cuda fp32 vs cpu: \(fp32) \(cpu)") }
        for (a, b) in zip(tf32, fp32) { XCTAssertEqual(a, b, accuracy: 1e-2 * abs(b), "train bpd, tf32 vs fp32: \(tf32) \(fp32)") }
        XCTAssertEqual(counters(r32).tf32, 0, "fp32 uses no TF32")
        XCTAssertGreaterThan(counters(rTF).tf32, 0, "tf32 routes the coupling networks' GEMMs: \(rTF.stderr)")
        XCTAssertGreaterThan(counters(rTF).sgemm, 0, "1×1 invertible convolutions and priors stay FP32")
        XCTAssertTrue(rTF.stdout.contains("cuda (glow-gpu CUDA emulator (CPU), sm_90, tf32)"), rTF.stdout)
    }

    /// On the CUDA backend (the emulator standing in for the driver) a training step is one
    /// graph launch: no kernel launch or cuBLAS call from the host, two uploads (the pixel
    /// bytes and the step's scalars), one download and one wait. With `GLOW_CUDA_GRAPHS=0`
    /// the same step is enqueued launch by launch and still waits once, as on the CPU
    /// backend and OpenCL: `bench --json`'s counts.
    func testBenchOnTheEmulatorIsOneGraphLaunchAndOneWaitPerStep() throws {
        for graphs in [true, false] {
            let r = try glow(["bench", "--config", "tiny", "--device", "cuda", "--steps", "2", "--json"],
                             environment: graphs ? [:] : ["GLOW_CUDA_GRAPHS": "0"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            XCTAssertEqual(obj["host_waits"] as? Double, 1, r.stdout)
            XCTAssertEqual(obj["downloads"] as? Double, 1, r.stdout)
            XCTAssertEqual(obj["uploads"] as? Double, 2, r.stdout)
            if graphs {
                XCTAssertEqual(obj["graph_launches"] as? Double, 1, r.stdout)
                XCTAssertEqual(obj["kernel_launches"] as? Double, 0, r.stdout)
                XCTAssertEqual(obj["library_calls"] as? Double, 0, r.stdout)
                // The step was captured once and replayed by every later step; the warm-up and
                // the recorded step ran the same operations as the replays.
                let g = graphCounters(r)
                XCTAssertGreaterThan(g.captured, 50, r.stderr)
                XCTAssertEqual(g.replayed, g.captured * g.launches, r.stderr)
            } else {
                XCTAssertEqual(obj["graph_launches"] as? Double, 0, r.stdout)
                XCTAssertGreaterThan(obj["library_calls"] as? Double ?? 0, 16, "cuBLAS GEMMs are counted: \(r.stdout)")
                XCTAssertGreaterThan(obj["kernel_launches"] as? Double ?? 0, 50, r.stdout)
                XCTAssertEqual(graphCounters(r).launches, 0, r.stderr)
            }
        }
    }

    /// A step that must wait mid-step (the plain 1×1 convolution's log-determinant is a
    /// Float64 slogdet on the host) cannot be a graph: recording gives up at the first
    /// download, the step is enqueued as usual, and every later step too.
    func testAStepThatWaitsMidStepIsNotRecorded() throws {
        let dir = try makeTempDirectory(self)
        let images = try imageFolder(in: dir)
        var bpd: [[Double]] = []
        for graphs in [true, false] {
            let out = dir.appendingPathComponent(graphs ? "graphs" : "eager").path
            let r = try glow(["train", "--config", "tiny", "--no-lu", "--dataset", "folder", "--data", images.path, "--steps", "3",
                              "--batch", "4", "--eval-every", "0", "--sample-every", "0", "--save-every", "100", "--device", "cuda",
                              "--out", out], environment: graphs ? [:] : ["GLOW_CUDA_GRAPHS": "0"])
            XCTAssertEqual(graphCounters(r).launches, 0, r.stderr)
            // Recording was tried (kernels before the first 1×1 convolution were captured), not replayed.
            XCTAssertEqual(graphCounters(r).captured > 0, graphs, r.stderr)
            let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            bpd.append(try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .compactMap { $0["train_bpd"] as? Double })
        }
        XCTAssertEqual(bpd[0].count, 3)
        XCTAssertEqual(bpd[0], bpd[1], "the step after a declined recording is the eager step")
    }

    /// Eight 8×8 grey PNGs in `dir/images`.
    func imageFolder(in dir: URL) throws -> URL {
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<8 {
            let pixels = (0..<64).map { UInt8(truncatingIfNeeded: ($0 * 53 + i * 29) % 256) }
            try PNGImage.write(path: images.appendingPathComponent("\(i).png").path, width: 8, height: 8, channels: 1, pixels: pixels)
        }
        return images
    }

    /// A run whose steps replay one CUDA graph equals the same run enqueued launch by launch
    /// (`GLOW_CUDA_GRAPHS=0`) bit for bit: every weight, Adam moment and EMA value after five
    /// steps of warm-up and clipping (the learning rate, bias corrections and noise stream
    /// change every step, so a graph that kept the first step's values would differ), and
    /// every step's train bpd and gradient norm.
    func testReplayedStepsEqualEagerStepsBitwise() throws {
        let dir = try makeTempDirectory(self)
        let images = try imageFolder(in: dir)
        func train(graphs: Bool) throws -> (SafeTensorsFile, SafeTensorsFile, [String], Run) {
            let out = dir.appendingPathComponent(graphs ? "graphs" : "eager").path
            let r = try glow(["train", "--config", "tiny", "--dataset", "folder", "--data", images.path, "--steps", "5",
                              "--batch", "4", "--warmup", "3", "--clip", "0.5", "--ema", "0.9", "--optimizer", "adam",
                              "--eval-every", "0", "--sample-every", "0", "--save-every", "100", "--device", "cuda",
                              "--out", out], environment: graphs ? [:] : ["GLOW_CUDA_GRAPHS": "0"])
            let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            let steps = try lines.compactMap { l -> String? in
                let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]
                guard let bpd = o?["train_bpd"] as? Double, let norm = o?["grad_norm"] as? Double else { return nil }
                return "\(bpd) \(norm)"
            }
            return (try SafeTensorsFile.read(path: out + "/checkpoint.safetensors"),
                    try SafeTensorsFile.read(path: out + "/training-state.safetensors"), steps, r)
        }
        let (gModel, gState, gSteps, gRun) = try train(graphs: true)
        let (eModel, eState, eSteps, eRun) = try train(graphs: false)
        XCTAssertEqual(graphCounters(gRun).launches, 4, "steps 2–5 replay the graph recorded at step 2: \(gRun.stderr)")
        XCTAssertEqual(graphCounters(eRun).launches, 0, eRun.stderr)
        XCTAssertEqual(gSteps.count, 5, gRun.stdout)
        XCTAssertEqual(gSteps, eSteps, "train bpd and gradient norm per step")
        for (g, e, what) in [(gModel, eModel, "checkpoint"), (gState, eState, "training state")] {
            XCTAssertEqual(g.tensors.map(\.name), e.tensors.map(\.name), what)
            XCTAssertGreaterThan(g.tensors.count, 10, what)
            for (a, b) in zip(g.tensors, e.tensors) {
                XCTAssertEqual(a.floats?.map(\.bitPattern), b.floats?.map(\.bitPattern), "\(what) \(a.name): replayed vs eager")
                if case .i64(let x) = a.data, case .i64(let y) = b.data { XCTAssertEqual(x, y, "\(what) \(a.name)") }
            }
        }
    }
}

extension CUDAEmulatorTests {
    /// `selftest --device cuda --precision tf32`: the TF32 rows of every operation TF32
    /// reaches pass within TF32's bound (and actually differ from FP32), each went through
    /// cublasGemmEx(TF32), and the model rows pass with TF32 in the coupling networks.
    func testSelftestTF32Rows() throws {
        let r = try glow(["selftest", "--device", "cuda", "--precision", "tf32", "--json"])
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(obj["ok"] as? Bool, true, r.stdout)
        let rows = try XCTUnwrap(obj["results"] as? [[String: Any]])
        XCTAssertEqual(rows.count, SelfTest.operationChecks(precision: .tf32).count + 1 + 6, "operations, tf32.routing, model rows")
        let tf32 = rows.filter { ($0["shape"] as? String)?.contains(" tf32 n=") ?? false }
        XCTAssertEqual(tf32.count, SelfTest.reducedPrecisionChecks.count)
        XCTAssertEqual(Set(tf32.compactMap { $0["op"] as? String }),
                       ["gemm", "conv3x3Forward", "conv3x3BackwardData", "conv3x3BackwardWeights"])
        for row in tf32 {
            let e = try XCTUnwrap(row["max_rel_err"] as? Double), tol = try XCTUnwrap(row["tolerance"] as? Double)
            XCTAssertGreaterThan(e, 0, "TF32 rounding changes the result: \(row)")
            XCTAssertLessThan(e, tol, "\(row)")
            XCTAssertGreaterThanOrEqual(tol, TF32Tolerance.componentwise(terms: 1) * 0.999)
        }
        let routing = try XCTUnwrap(rows.first { $0["op"] as? String == "tf32.routing" })
        XCTAssertEqual(routing["ok"] as? Bool, true, "\(routing)")
        XCTAssertGreaterThanOrEqual(counters(r).tf32, tf32.count, r.stderr)
        // FP32: the same command has no TF32 rows and makes no TF32 call.
        let fp32 = try glow(["selftest", "--device", "cuda", "--json", "--no-model"])
        XCTAssertFalse(fp32.stdout.contains(" tf32"), fp32.stdout)
        XCTAssertEqual(counters(fp32).tf32, 0)
    }

    /// `devices` and `--device cuda` tell apart: no device, a library newer than the driver,
    /// cuBLAS not found and NVRTC not found (no driver at all: CLITests.testCUDAUnavailableFromTheCommandLine).
    func testUnavailableReasonsAreTold() throws {
        let emulator = try Self.buildEmulator()
        let dir = try makeTempDirectory(self)
        // A driver without cuBLAS beside it.
        let driverOnly = dir.appendingPathComponent("driver-only")
        try FileManager.default.createDirectory(at: driverOnly, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: driverOnly.appendingPathComponent("libcuda.so.1"),
                                                   withDestinationURL: emulator.appendingPathComponent("libglowcudaemu.so"))
        // A copy of the binary run from a folder without .cuda-tools: it finds no NVRTC.
        guard let bin = CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        let away = dir.appendingPathComponent("away")
        try FileManager.default.createDirectory(at: away, withIntermediateDirectories: true)
        let copy = away.appendingPathComponent("glow-gpu")
        try FileManager.default.copyItem(at: bin, to: copy)
        let cases: [(String, [String: String], URL?, String)] = [
            ("no device", ["GLOW_EMU_NO_DEVICE": "1"], nil, "no CUDA device: "),
            ("driver 12.4, NVRTC 13 only", ["GLOW_EMU_DRIVER_VERSION": "12040"], nil,
             "NVRTC newer than the driver: the driver supports CUDA 12.4 and every NVRTC found is newer: "),
            ("no cuBLAS", ["GLOW_CUDA_PATH": driverOnly.path], nil, "cuBLAS not found (searched GLOW_CUDA_PATH=\(driverOnly.path)"),
            ("no NVRTC", [:], copy, "NVRTC not found (searched GLOW_CUDA_PATH=\(emulator.path)"),
        ]
        for (name, env, binary, reason) in cases {
            let devices = try glow(["devices"], environment: env, binary: binary, directory: away)
            // A machine with an NVRTC of its own (the loader's path, a toolkit) cannot show "not found".
            if binary != nil && devices.stdout.contains("loader nvrtc: loaded") { continue }
            let line = devices.stdout.split(separator: "\n").first { $0.hasPrefix("cuda") }.map(String.init) ?? ""
            XCTAssert(line.hasPrefix("cuda       unavailable: " + reason), "\(name): \(devices.stdout)")
            let bench = try glow(["bench", "--device", "cuda", "--config", "tiny"], environment: env, binary: binary,
                                 directory: away, expectSuccess: false)
            XCTAssertNotEqual(bench.status, 0, name)
            XCTAssert(bench.stderr.contains("--device cuda: CUDA is not available: " + reason), "\(name): \(bench.stderr)")
        }
        // The version check's report names what was skipped.
        let skipped = try glow(["devices"], environment: ["GLOW_EMU_DRIVER_VERSION": "12040"])
        XCTAssert(skipped.stdout.contains("loader nvrtc: skipped ") && skipped.stdout.contains("CUDA 13, newer than the driver (CUDA 12.4)"),
                  skipped.stdout)
    }

    /// The buffer pool keeps up to half the device memory free at start (cuMemGetInfo), and
    /// training steps after the first allocate nothing: 2 and 5 steps make the same number of
    /// cuMemAlloc calls.
    func testPoolLimitFromDeviceMemoryAndSteadyStepsAllocateNothing() throws {
        let mib = 1 << 20
        let small = try glow(["devices", "--check"], environment: ["GLOW_EMU_MEMORY_BYTES": "\(64 * mib)"])
        XCTAssert(small.stdout.contains("memory: 64 MiB free now; the buffer pool keeps up to 32 MiB"), small.stdout)
        let dir = try makeTempDirectory(self)
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<8 {
            let pixels = (0..<64).map { UInt8(truncatingIfNeeded: ($0 * 37 + i * 91) % 256) }
            try PNGImage.write(path: images.appendingPathComponent("\(i).png").path, width: 8, height: 8, channels: 1, pixels: pixels)
        }
        func allocations(steps: Int) throws -> Int {
            let r = try glow(["train", "--config", "tiny", "--dataset", "folder", "--data", images.path, "--steps", "\(steps)",
                              "--warmup", "1", "--eval-every", "0", "--sample-every", "0", "--save-every", "100",
                              "--device", "cuda", "--out", dir.appendingPathComponent("run-\(steps)").path])
            return counters(r).allocations
        }
        let a2 = try allocations(steps: 2), a5 = try allocations(steps: 5)
        XCTAssertGreaterThan(a2, 0)
        XCTAssertEqual(a5, a2, "steps 3 to 5 allocated")
    }
}
