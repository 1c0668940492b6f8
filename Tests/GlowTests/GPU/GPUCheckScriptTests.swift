import Foundation
import XCTest
@testable import GlowGPU

/// scripts/gpu-check.sh without a GPU: its plan fits the budget, and the whole script runs
/// on this machine with the CUDA emulator (Tests/CUDAEmulator) as the driver and PoCL for
/// OpenCL, with tiny configurations, so that no stage's bash can fail for the first time on
/// a GPU lease. Every stage must run and write its files.
final class GPUCheckScriptTests: XCTestCase {
    static let root = TestPaths.root
    static var script: String { root.appendingPathComponent("scripts/gpu-check.sh").path }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    func bash(_ args: [String], environment: [String: String] = [:]) throws -> Run {
        let dir = try makeTempDirectory(self)
        let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Self.script] + args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = out; p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close(); try err.close()
        return Run(status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                   stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// `--plan`: (name, limit) per stage and the budget.
    func plan(_ args: [String], environment: [String: String] = [:]) throws -> (stages: [(String, Int)], budget: Int) {
        let r = try bash(["--plan"] + args, environment: environment)
        XCTAssertEqual(r.status, 0, r.stderr)
        var stages: [(String, Int)] = [], budget = 0
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 3, f[2] == "s", let limit = Int(f[1]) else { continue }
            if f[0] == "total" { budget = f.count > 5 ? Int(f[5]) ?? 0 : 0 } else { stages.append((String(f[0]), limit)) }
        }
        return (stages, budget)
    }

    /// The full plan's limits fit the 470 s budget with a minute spare, and the CUDA figures
    /// (the benches) come within the first 4 minutes even if every stage before them runs to
    /// its limit; --quick has only CUDA stages and a budget under 3 minutes.
    func testPlanFitsTheBudget() throws {
        let full = try plan([], environment: ["GLOW_CHECK_SECONDS": "", "GLOW_CHECK_SCALE": ""])
        XCTAssertEqual(full.budget, 470)
        let total = full.stages.reduce(0) { $0 + $1.1 }
        XCTAssertLessThanOrEqual(total, full.budget - 60, "\(full.stages)")
        XCTAssertEqual(Set(full.stages.map(\.0)).count, full.stages.count, "stage names are unique (one file each)")
        let lastBench = try XCTUnwrap(full.stages.lastIndex { $0.0.hasPrefix("bench-cuda-") })
        XCTAssertLessThanOrEqual(full.stages[...lastBench].reduce(0) { $0 + $1.1 }, 240, "CUDA figures within 4 minutes")
        XCTAssertEqual(Array(full.stages.map(\.0).prefix(3)), ["machine", "devices", "selftest-cuda"])
        XCTAssertEqual(full.stages.first { $0.0 == "machine" }?.1, 15)
        let firstOpenCL = try XCTUnwrap(full.stages.firstIndex { $0.0.contains("opencl") })
        XCTAssertFalse(full.stages[firstOpenCL...].contains { $0.0.contains("cuda") || $0.0.hasPrefix("train") },
                       "OpenCL stages come after every CUDA stage")
        for p in ["fp32", "tf32"] {
            for b in ["paper-64", "mnist-64", "paper-256"] { XCTAssert(full.stages.contains { $0.0 == "bench-cuda-\(p)-\(b)" }, "\(p) \(b)") }
            XCTAssert(full.stages.contains { $0.0 == "train-\(p)" })
        }
        let quick = try plan(["--quick"], environment: ["GLOW_CHECK_SECONDS": "", "GLOW_CHECK_SCALE": ""])
        XCTAssertLessThan(quick.budget, 180)
        XCTAssertFalse(quick.stages.contains { $0.0.contains("opencl") }, "--quick: CUDA alone")
        XCTAssert(quick.stages.contains { $0.0 == "train-tf32" })
        let bad = try bash(["--plan"], environment: ["GLOW_CHECK_SCALE": "x"])
        XCTAssertEqual(bad.status, 2)
        XCTAssert(bad.stderr.contains("GLOW_CHECK_SCALE=x"), bad.stderr)
    }

    /// The whole script on the CUDA emulator and PoCL: every stage of the plan runs (torch is
    /// recorded as not importable when it is not), writes NAME.out and NAME.err, and the
    /// summary holds the FP32/TF32 figures and the two trainings' bpd side by side. Then
    /// `--quick` with a driver that has no cuBLAS beside it: the CUDA stages are skipped with
    /// the reason, and the files are still written.
    func testDryRunOnTheEmulatorAndPoCL() throws {
        try requireNVRTC()
        guard let bin = CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        let haveOpenCL = (try? TestBackends.openCL()) != nil
        if !haveOpenCL && ProcessInfo.processInfo.environment["GLOW_REQUIRE_OPENCL"] == "1" {
            XCTFail("GLOW_REQUIRE_OPENCL=1 but there is no OpenCL device for the script's OpenCL stages")
        }
        let emulator = try CUDAEmulatorTests.buildEmulator()
        let dir = try makeTempDirectory(self)
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<8 {
            let pixels = (0..<64).map { UInt8(truncatingIfNeeded: ($0 * 37 + i * 91) % 256) }
            try PNGImage.write(path: images.appendingPathComponent("\(i).png").path, width: 8, height: 8, channels: 1, pixels: pixels)
        }
        let env = ["GLOW_GPU": bin.path, "GLOW_CUDA_PATH": emulator.path,
                   "GLOW_CUDA_CACHE": emulator.appendingPathComponent("cache").path,
                   "GLOW_CHECK_DEVICE": "opencl", "GLOW_CHECK_CUDA_BENCHES": "tiny:2", "GLOW_CHECK_OPENCL_BENCHES": "tiny:2",
                   "GLOW_CHECK_BENCH_STEPS": "1", "GLOW_CHECK_KERNEL_BATCH": "1", "GLOW_CHECK_SCALE": "3", "GLOW_CHECK_SECONDS": "",
                   "GLOW_CHECK_TRAIN_ARGS": "--config tiny --dataset folder --data \(images.path) --steps 2 --warmup 1 --no-test"]
        let stages = try plan([], environment: env).stages.map(\.0)
        let out = dir.appendingPathComponent("check")
        let started = Date()
        let r = try bash([out.path], environment: env)
        print("gpu-check.sh dry run on the emulator and PoCL: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "", "the script itself reports nothing on stderr (a bash error would)")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.txt"), encoding: .utf8)
        let lines = summary.split(separator: "\n").map(String.init)
        for name in stages {
            let line = lines.first { $0.hasPrefix(name + " ") } ?? ""
            let files = ["out", "err"].map { out.appendingPathComponent("\(name).\($0)").path }
            XCTAssert(files.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "\(name): files \(files)")
            let text = (try? String(contentsOfFile: files[0], encoding: .utf8)) ?? ""
            if name == "torch-matmul" && !line.contains(" ok ") {
                XCTAssert(text.hasPrefix("torch.matmul: skipped: "), "\(name): \(text)")
                continue
            }
            if name.contains("opencl") && !haveOpenCL { continue }
            XCTAssert(line.contains(" ok "), "\(name) did not run ok: '\(line)'\n\(summary)")
            XCTAssertFalse(text.isEmpty, "\(name).out is empty")
        }
        XCTAssert(try String(contentsOf: out.appendingPathComponent("devices.out"), encoding: .utf8).contains("glow-gpu CUDA emulator"))
        // The figures: FP32 and TF32 images/s and GFLOP/s, all positive.
        let figures = try String(contentsOf: out.appendingPathComponent("cuda-figures.txt"), encoding: .utf8)
        let row = figures.split(separator: "\n").first { $0.hasPrefix("tiny ") }.map { $0.split(separator: " ").compactMap { Double($0) } }
        XCTAssertEqual(row?.count, 5, figures)
        XCTAssert(row?.dropFirst().allSatisfy { $0 > 0 } ?? false, figures)
        XCTAssert(summary.contains("CUDA training throughput"), summary)
        // TF32 reached cublasGemmEx in the TF32 bench only.
        func tf32Calls(_ stage: String) throws -> Int {
            let err = try String(contentsOf: out.appendingPathComponent("\(stage).err"), encoding: .utf8)
            let n = err.split(separator: "\n").last { $0.hasPrefix("cuda-emulator:") }?.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return n.map { $0.count > 3 ? $0[3] : -1 } ?? -1
        }
        XCTAssertEqual(try tf32Calls("bench-cuda-fp32-tiny-2"), 0)
        XCTAssertGreaterThan(try tf32Calls("bench-cuda-tf32-tiny-2"), 0)
        // Training bpd side by side: two numbers on the train row, n/a for test (--no-test).
        let train = lines.first { $0.hasPrefix("  train ") }?.split(separator: " ").compactMap { Double($0) } ?? []
        XCTAssertEqual(train.count, 2, summary)
        XCTAssertEqual(train.first ?? 0, train.last ?? 1, accuracy: 0.05 * (train.first ?? 1), "FP32 and TF32 bpd after 2 steps")
        XCTAssert(lines.contains { $0.hasPrefix("  test ") && $0.contains("n/a") }, summary)
        XCTAssert(lines.last?.hasPrefix("done in ") ?? false, summary)

        // --quick where the driver has no cuBLAS beside it.
        let driverOnly = dir.appendingPathComponent("driver-only")
        try FileManager.default.createDirectory(at: driverOnly, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: driverOnly.appendingPathComponent("libcuda.so.1"),
                                                   withDestinationURL: emulator.appendingPathComponent("libglowcudaemu.so"))
        var quickEnv = env
        quickEnv["GLOW_CUDA_PATH"] = driverOnly.path
        let quickOut = dir.appendingPathComponent("quick")
        let q = try bash(["--quick", quickOut.path], environment: quickEnv)
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertEqual(q.stderr, "")
        let quickSummary = try String(contentsOf: quickOut.appendingPathComponent("summary.txt"), encoding: .utf8)
        XCTAssert(quickSummary.contains("CUDA unavailable (cuBLAS not found): cuBLAS not found (searched"), quickSummary)
        for name in try plan(["--quick"], environment: quickEnv).stages.map(\.0) where name != "machine" && name != "devices" {
            XCTAssert(quickSummary.contains(name.padding(toLength: 26, withPad: " ", startingAt: 0) + " skipped: no usable CUDA device"),
                      "\(name)\n\(quickSummary)")
            XCTAssert(FileManager.default.fileExists(atPath: quickOut.appendingPathComponent("\(name).out").path), name)
        }
        XCTAssertFalse(quickSummary.contains("opencl"), "--quick runs no OpenCL stage")
    }
}
