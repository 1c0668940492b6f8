import Foundation
import XCTest
@testable import GlowGPU

extension CLITests {
    /// `bench --json` reports per training step the counts of every backend with one
    /// definition (DeviceCounters): one host wait and one download (the step record), one
    /// upload (the batch), whole numbers (every step issues the same work), library GEMMs
    /// on the CPU backend and kernel launches on OpenCL, no graph launches, no skipped steps.
    func testBenchReportsLaunchCounts() throws {
        var devices = ["cpu"]
        if (try? OpenCLDeviceInfo.all())?.isEmpty == false { devices.append("opencl") }
        for device in devices {
            let r = try run(["bench", "--config", "tiny", "--device", device, "--steps", "2", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            XCTAssertEqual(obj["skipped_steps"] as? Int, 0, r.stdout)
            func value(_ key: String) throws -> Double { try XCTUnwrap(obj[key] as? Double, "\(key): \(r.stdout)") }
            XCTAssertEqual(try value("host_waits"), 1, r.stdout)
            XCTAssertEqual(try value("host_syncs_per_step"), 1, r.stdout)
            XCTAssertEqual(try value("downloads"), 1, r.stdout)
            XCTAssertEqual(try value("uploads"), 1, r.stdout)
            XCTAssertEqual(try value("graph_launches"), 0, r.stdout)
            let launches = try value("kernel_launches"), calls = try value("library_calls")
            XCTAssertEqual(launches, launches.rounded())
            XCTAssertEqual(calls, calls.rounded())
            if device == "cpu" {
                XCTAssertEqual(launches, 0, r.stdout)
                // tiny: 4 flow steps, each with several GEMMs forward and backward.
                XCTAssertGreaterThan(calls, 4 * 4, r.stdout)
            } else {
                XCTAssertGreaterThan(launches, 100, r.stdout)
                XCTAssertEqual(calls, 0, r.stdout)
            }
        }
    }
}
