import Foundation
import XCTest
@testable import GlowGPU

extension CLITests {
    /// `bench --json` reports per training step the counts of every backend with one
    /// definition (DeviceCounters): one host wait and one download (the step record), two
    /// uploads (the batch's bytes and the step's scalars), whole numbers (every step issues
    /// the same work), library GEMMs on the CPU backend, no skipped steps. On OpenCL the
    /// step is one command-buffer launch where the device offers cl_khr_command_buffer
    /// (PoCL does) and kernel launches otherwise (`GLOW_CL_COMMAND_BUFFERS=0`).
    func testBenchReportsLaunchCounts() throws {
        var runs: [(device: String, environment: [String: String])] = [("cpu", [:])]
        if (try? OpenCLDeviceInfo.all())?.isEmpty == false {
            runs += [("opencl", [:]), ("opencl", ["GLOW_CL_COMMAND_BUFFERS": "0"])]
        }
        for (device, environment) in runs {
            let r = try run(["bench", "--config", "tiny", "--device", device, "--steps", "2", "--json"], environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            XCTAssertEqual(obj["skipped_steps"] as? Int, 0, r.stdout)
            func value(_ key: String) throws -> Double { try XCTUnwrap(obj[key] as? Double, "\(key): \(r.stdout)") }
            XCTAssertEqual(try value("host_waits"), 1, r.stdout)
            XCTAssertEqual(try value("host_syncs_per_step"), 1, r.stdout)
            XCTAssertEqual(try value("downloads"), 1, r.stdout)
            XCTAssertEqual(try value("uploads"), 2, r.stdout)
            let launches = try value("kernel_launches"), calls = try value("library_calls")
            let graphs = try value("graph_launches"), recorded = try value("graph_operations")
            XCTAssertEqual(launches, launches.rounded())
            XCTAssertEqual(calls, calls.rounded())
            if device == "cpu" {
                XCTAssertEqual(launches, 0, r.stdout)
                XCTAssertEqual(graphs, 0, r.stdout)
                // tiny: 4 flow steps, each with several GEMMs forward and backward.
                XCTAssertGreaterThan(calls, 4 * 4, r.stdout)
            } else if environment.isEmpty && OpenCLDeviceInfo.commandBuffersOffered(device: 0) {
                XCTAssertEqual(graphs, 1, r.stdout)
                XCTAssertEqual(launches, 0, r.stdout)
                XCTAssertGreaterThan(recorded, 100, r.stdout)
            } else {
                XCTAssertEqual(graphs, 0, r.stdout)
                XCTAssertGreaterThan(launches, 100, r.stdout)
                XCTAssertEqual(calls, 0, r.stdout)
            }
        }
    }
}

extension CLITests {
    /// On an OpenCL device with cl_khr_command_buffer (PoCL), a run whose steps replay one
    /// recorded command buffer equals the same run enqueued kernel by kernel
    /// (`GLOW_CL_COMMAND_BUFFERS=0`) bit for bit: every weight, Adam moment and EMA value and
    /// every step's train bpd and gradient norm, with the learning rate, bias corrections and
    /// noise stream changing every step (warm-up, clipping, EMA on).
    func testCommandBufferReplayEqualsEagerStepsOnOpenCL() throws {
        guard (try? OpenCLDeviceInfo.all())?.isEmpty == false, OpenCLDeviceInfo.commandBuffersOffered(device: 0) else {
            throw XCTSkip("no OpenCL device with cl_khr_command_buffer")
        }
        let dir = try makeTempDirectory(self)
        var results: [(SafeTensorsFile, SafeTensorsFile, [String])] = []
        for replay in [true, false] {
            let out = dir.appendingPathComponent(replay ? "replay" : "eager").path
            let r = try run(["train", "--config", "tiny", "--steps", "5", "--batch", "8", "--warmup", "3", "--clip", "0.5",
                             "--ema", "0.9", "--optimizer", "adam", "--device", "opencl", "--eval-every", "0",
                             "--sample-every", "0", "--save-every", "100", "--out", out],
                            environment: replay ? [:] : ["GLOW_CL_COMMAND_BUFFERS": "0"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let steps = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
                let o = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                return (o?["train_bpd"] as? Double).flatMap { b in (o?["grad_norm"] as? Double).map { "\(b) \($0)" } }
            }
            results.append((try SafeTensorsFile.read(path: out + "/checkpoint.safetensors"),
                            try SafeTensorsFile.read(path: out + "/training-state.safetensors"), steps))
        }
        XCTAssertEqual(results[0].2.count, 5)
        XCTAssertEqual(results[0].2, results[1].2, "train bpd and gradient norm per step")
        for (g, e, what) in [(results[0].0, results[1].0, "checkpoint"), (results[0].1, results[1].1, "training state")] {
            XCTAssertEqual(g.tensors.map(\.name), e.tensors.map(\.name), what)
            for (a, b) in zip(g.tensors, e.tensors) {
                XCTAssertEqual(a.floats?.map(\.bitPattern), b.floats?.map(\.bitPattern), "\(what) \(a.name): replayed vs eager")
            }
        }
    }
}
