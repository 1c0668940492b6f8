import Foundation
import XCTest
@testable import GlowGPU

extension CLITests {
    /// `bench --json` reports launch and host-sync counts per training step for a kernel
    /// backend (whole numbers: every step of a configuration issues the same work), null
    /// for the CPU backend, and no skipped steps.
    func testBenchReportsLaunchCounts() throws {
        var devices = ["cpu"]
        if (try? OpenCLDeviceInfo.all())?.isEmpty == false { devices.append("opencl") }
        for device in devices {
            let r = try run(["bench", "--config", "tiny", "--device", device, "--steps", "2", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            XCTAssertEqual(obj["skipped_steps"] as? Int, 0, r.stdout)
            if device == "cpu" {
                XCTAssert(obj["kernel_launches_per_step"] is NSNull, r.stdout)
                XCTAssert(obj["host_syncs_per_step"] is NSNull, r.stdout)
            } else {
                let launches = try XCTUnwrap(obj["kernel_launches_per_step"] as? Double, r.stdout)
                let syncs = try XCTUnwrap(obj["host_syncs_per_step"] as? Double, r.stdout)
                // tiny: 4 flow steps, each with several kernels and host waits (the LU refresh).
                XCTAssertGreaterThan(launches, 100)
                XCTAssertGreaterThan(syncs, 4 * 4)
                XCTAssertLessThan(syncs, launches)
                XCTAssertEqual(launches, launches.rounded())
                XCTAssertEqual(syncs, syncs.rounded())
            }
        }
    }
}
