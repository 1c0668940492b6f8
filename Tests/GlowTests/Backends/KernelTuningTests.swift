import XCTest
@testable import GlowGPU

/// The kernel tuning table: which entry a device gets, the environment overrides, and the
/// validation of every value against kernels.cl's constraints and the device's limits.
final class KernelTuningTests: XCTestCase {
    func device(_ type: String, _ vendor: String, _ name: String, maxWG: Int = 1024, local: Int = 48 * 1024) -> KernelDevice {
        KernelDevice(type: type, vendor: vendor, name: name, computeUnits: 132, maxWorkGroupSize: maxWG, localMemory: local)
    }

    func testMostSpecificEntryWins() throws {
        let pocl = try KernelTuningTable.tuning(for: device("CPU", "GenuineIntel", "cpu-skylake-avx512", maxWG: 4096),
                                                environment: [:])
        XCTAssertEqual(pocl.variant, .cpu)
        XCTAssertEqual(pocl["GEMM_LOCAL", default: 0], 1)
        let h200 = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA H200"), environment: [:])
        XCTAssertEqual(h200.variant, .gpu)
        XCTAssertEqual(h200.gemmGeometry, GemmGeometry(mwg: 128, nwg: 128, kwg: 8, mdimc: 16, ndimc: 16))
        XCTAssertEqual(h200["GROUPS_TARGET", default: 0], 132 * 2, "two 128×128 groups resident per SM")
        // The name entry beats the vendor entry.
        let a100 = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA A100-SXM4-80GB"), environment: [:])
        XCTAssertEqual(a100.gemmGeometry, GemmGeometry(mwg: 32, nwg: 64, kwg: 32, mdimc: 8, ndimc: 16))
        XCTAssertEqual(a100[.groupsTarget], 132 * 4, "small tiles: the default four groups per SM")
        let given = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA H200"),
                                                 environment: ["GLOW_CL_TUNING": "GROUPS_PER_CU=3"])
        XCTAssertEqual(given[.groupsTarget], 132 * 3)
        let outright = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA H200"),
                                                    environment: ["GLOW_CL_TUNING": "GROUPS_TARGET=100,GROUPS_PER_CU=3"])
        XCTAssertEqual(outright[.groupsTarget], 100)
        let intel = try KernelTuningTable.tuning(for: device("GPU", "Intel(R) Corporation", "Intel(R) Arc(TM) A770"),
                                                 environment: [:])
        XCTAssertEqual(intel.gemmGeometry.mwg, 32)
        let unknown = try KernelTuningTable.tuning(for: device("GPU", "Imaginary Inc.", "X1"), environment: [:])
        XCTAssertEqual(unknown.values, KernelTuningTable.gpuDefaults.merging(["GROUPS_TARGET": 528, "VWM": 4, "VWN": 4]) { $1 })
        XCTAssertTrue(unknown.defines.contains("-DGLOW_VARIANT_GPU=1"))
        XCTAssertTrue(unknown.defines.contains("-DMWG=64"))
    }

    func testEnvironmentOverrides() throws {
        let cpu = device("CPU", "GenuineIntel", "pocl", maxWG: 4096)
        let forced = try KernelTuningTable.tuning(for: cpu, environment: ["GLOW_CL_VARIANT": "gpu", "GLOW_CL_TUNING": "MWG=32,KWG=8"])
        XCTAssertEqual(forced.variant, .gpu)
        XCTAssertEqual(forced.gemmGeometry, GemmGeometry(mwg: 32, nwg: 64, kwg: 8, mdimc: 16, ndimc: 16))
        XCTAssertEqual([forced[.vwm], forced[.vwn]], [2, 4], "the widest vectors that divide 2 rows and 4 columns per work-item")
        let scalar = try KernelTuningTable.tuning(for: cpu, environment: ["GLOW_CL_VARIANT": "gpu", "GLOW_CL_TUNING": "VWM=1"])
        XCTAssertEqual([scalar[.vwm], scalar[.vwn]], [1, 4], "a width given is kept")
        let nv = device("GPU", "NVIDIA Corporation", "NVIDIA H200")
        let toCPU = try KernelTuningTable.tuning(for: nv, environment: ["GLOW_CL_VARIANT": "CPU"])
        XCTAssertEqual(toCPU.variant, .cpu)
        XCTAssertNil(toCPU.values["MWG"], "the NVIDIA entry's GPU values do not leak into a forced CPU variant")
        XCTAssertThrowsError(try KernelTuningTable.tuning(for: nv, environment: ["GLOW_CL_VARIANT": "fpga"])) {
            XCTAssertTrue("\($0)".contains("GLOW_CL_VARIANT=fpga"), "\($0)")
        }
        XCTAssertThrowsError(try KernelTuningTable.tuning(for: nv, environment: ["GLOW_CL_TUNING": "MWG=lots"])) {
            XCTAssertTrue("\($0)".contains("MWG=lots"), "\($0)")
        }
        XCTAssertThrowsError(try KernelTuningTable.tuning(for: nv, environment: ["GLOW_CL_TUNING": "TILE=4"])) {
            XCTAssertTrue("\($0)".contains("unknown value TILE"), "\($0)")
        }
    }

    /// Each constraint kernels.cl relies on is refused with the value named.
    func testValidationNamesTheBadValue() throws {
        let nv = device("GPU", "NVIDIA Corporation", "NVIDIA H200")
        func refuse(_ overrides: [String: Int], _ needle: String, on d: KernelDevice? = nil, file: StaticString = #filePath,
                    line: UInt = #line) {
            XCTAssertThrowsError(try KernelTuningTable.tuning(for: d ?? nv, environment: [:], overrides: overrides),
                                 file: file, line: line) {
                XCTAssertTrue("\($0)".contains(needle), "\($0)", file: file, line: line)
            }
        }
        refuse(["MWG": 100], "MWG=100 must be a multiple of MDIMC=16")
        refuse(["NWG": 40], "NWG=40 must be a multiple of NDIMC=16")
        refuse(["MWG": 16, "KWG": 8, "MDIMC": 16, "NDIMC": 16, "NWG": 16], "MWG·KWG=128 must be a multiple of MDIMC·NDIMC=256")
        refuse(["MDIMC": 32, "NDIMC": 64, "MWG": 128, "NWG": 128, "KWG": 16], "more than the device's maximum 1024")
        refuse(["WG_REDUCE": 96], "WG_REDUCE=96 must be a power of two")
        refuse(["KWG": 64], "bytes of __local tiles", on: device("GPU", "NVIDIA Corporation", "small", local: 32 * 1024))
        refuse(["MWG": 512, "NWG": 512], "accumulators per work-item")
        refuse(["WG_ELEMENTWISE": 0], "WG_ELEMENTWISE=0 must be at least 1")
        refuse(["WG_ELEMENTWISE": 2048], "WG_ELEMENTWISE=2048")
        refuse(["GEMM_TV": 2], "GEMM_TV=2 must be 4", on: device("CPU", "x", "pocl", maxWG: 4096))
        refuse(["VWM": 3], "VWM=3 must be 1, 2 or 4")
        refuse(["MWG": 32, "VWM": 4], "MWG/MDIMC=2 must be a multiple of VWM=4")
        refuse(["MDIMC": 4, "NDIMC": 4, "MWG": 32, "NWG": 32, "KWG": 16], "MDIMC·NDIMC=16 must be a multiple of MWG=32")
    }

    /// NVIDIA's OpenCL holds the GPU variant to the registers of GROUPS_PER_CU resident
    /// groups (the CUDA backend's launch bound); no other device or variant gets the option.
    func testNVIDIARegisterCapFollowsResidency() throws {
        let h200 = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA H200"), environment: [:])
        XCTAssertTrue(OpenCLBackend.buildOptions(tuning: h200, vendor: "NVIDIA Corporation").contains("-cl-nv-maxrregcount=128"),
                      "256 threads × 2 groups of 65,536 registers")
        let a100 = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA A100-SXM4-80GB"), environment: [:])
        XCTAssertTrue(OpenCLBackend.buildOptions(tuning: a100, vendor: "NVIDIA Corporation").contains("-cl-nv-maxrregcount=128"),
                      "128 threads × 4 groups")
        let amd = try KernelTuningTable.tuning(for: device("GPU", "AMD", "gfx90a"), environment: [:])
        XCTAssertFalse(OpenCLBackend.buildOptions(tuning: amd, vendor: "AMD").contains("maxrregcount"))
        let cpu = try KernelTuningTable.tuning(for: device("GPU", "NVIDIA Corporation", "NVIDIA H200"), environment: ["GLOW_CL_VARIANT": "cpu"])
        XCTAssertFalse(OpenCLBackend.buildOptions(tuning: cpu, vendor: "NVIDIA Corporation").contains("maxrregcount"))
        XCTAssertTrue(OpenCLBackend.buildOptions(tuning: h200, vendor: "NVIDIA Corporation").contains("-DVWM=4"))
    }

    /// The OpenCL backend under test runs the variant the environment asks for (CI runs the
    /// parity suite once per variant), and its program was built with that variant's values.
    func testBackendRunsTheRequestedVariant() throws {
        guard let cl = try TestBackends.openCL() else { return }
        let env = ProcessInfo.processInfo.environment
        let expected = try KernelTuningTable.tuning(for: cl.device.kernelDevice, environment: env)
        XCTAssertEqual(cl.tuning, expected)
        if let forced = env["GLOW_CL_VARIANT"], !forced.isEmpty { XCTAssertEqual(cl.tuning.variant.rawValue, forced.lowercased()) }
        for d in cl.tuning.defines { XCTAssertTrue(cl.buildOptions.contains(d), "\(d) missing from \(cl.buildOptions)") }
    }
}
