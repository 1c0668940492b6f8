import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// The CUDA path without a GPU: kernels.cl through NVRTC (PyPI's nvidia-cuda-nvrtc, which
/// scripts/setup-cuda-tools.sh puts in .cuda-tools), the choice of target, the ptxas report,
/// and the model's TF32 marking. `GLOW_REQUIRE_NVRTC=1` (CI) makes a missing NVRTC a
/// failure instead of a skip.
final class CUDATests: XCTestCase {

    /// The GPU variant, as the CUDA backend compiles it.
    var tuning: KernelTuning { KernelTuning(variant: .gpu) }

    /// Lines of an NVRTC log that are warnings or errors (ptxas's `info` report is neither).
    func problems(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter {
            let l = $0.lowercased()
            return (l.contains("warning") || l.contains("error")) && !l.hasPrefix("ptxas info")
        }
    }

    /// The GPU variant's kernels: all but the CPU variant's packed GEMM.
    static let gpuVariant = Kernel.all.filter { $0 != .packPanels && $0 != .gemmPacked }

    /// The tuning the CUDA backend would use on an NVIDIA GPU named `name`.
    func tuning(forGPU name: String) throws -> KernelTuning {
        try CUDABackend.defaultTuning(for: CUDADeviceInfo(index: 0, name: name, major: 9, minor: 0, memory: 1 << 30,
                                                          multiprocessors: 132))
    }

    func testKernelsCompileWithoutWarningsForSM80AndSM90() throws {
        try requireNVRTC()
        print("NVRTC \(try CUDALibraries.nvrtcVersion()) from \(CUDALibraries.paths.nvrtc)")
        // sm_80 with the A100 entry of the tuning table, sm_90 with the H200 (NVIDIA default) one.
        for (arch, gpu) in [("sm_80", "NVIDIA A100-SXM4-80GB"), ("sm_90", "NVIDIA H200")] {
            let tuning = try tuning(forGPU: gpu)
            let image = try CUDAKernelCompiler.compile(target: arch, tuning: tuning, verbose: true)
            XCTAssertEqual(problems(image.log), [], "\(arch): NVRTC reported warnings or errors")
            XCTAssertTrue(image.isCUBIN)
            XCTAssertEqual(Array(image.data.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "\(arch): not an ELF CUBIN")
            let report = CUDAKernelCompiler.resources(inLog: image.log)
            // Every kernel of the Swift table is in the module (ptxas compiled each entry).
            XCTAssertEqual(Set(report.map(\.name)), Set(Kernel.all.map(\.name)), "\(arch): kernels compiled")
            print("ptxas for \(arch) (\(tuning.defines.joined(separator: " "))): registers, spill stores/loads (bytes)")
            for r in report.sorted(by: { $0.name < $1.name }) {
                print("  \(r.name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(r.registers) registers, "
                    + "spills \(r.spillStores)/\(r.spillLoads)\(CUDATests.gpuVariant.contains { $0.name == r.name } ? "" : " (CPU variant)")")
            }
            for r in report where CUDATests.gpuVariant.contains(where: { $0.name == r.name }) {
                XCTAssertEqual(r.spillStores + r.spillLoads, 0, "\(r.name) spills on \(arch) in the GPU variant")
            }
        }
    }

    func testPTXTargetForVirtualArchitecture() throws {
        try requireNVRTC()
        let image = try CUDAKernelCompiler.compile(target: "compute_90", tuning: tuning)
        XCTAssertFalse(image.isCUBIN)
        let ptx = String(decoding: image.data.prefix(while: { $0 != 0 }), as: UTF8.self)
        XCTAssertTrue(ptx.contains(".target sm_90"), "PTX for compute_90")
        for k in Kernel.all { XCTAssertTrue(ptx.contains(".entry \(k.name)("), "PTX has \(k.name)") }
    }

    /// Guards the guard: NVRTC warns on an OpenCL vector literal (a comma expression in
    /// C++), so the zero-warning test above catches one added to kernels.cl; VEC(T)(…) is
    /// clean.
    func testVectorLiteralTrapIsAWarning() throws {
        try requireNVRTC()
        let compat = CUDAKernelCompiler.compatHeader
        let body = """
            __kernel void k(__global float* y, float a, float b) {
                float4 v = %@(a, b, a, b);
                vstore4(v, 0, y);
            }
            """
        let bad = try CUDAKernelCompiler.compile(target: "sm_90", tuning: tuning,
                                                 source: compat + body.replacingOccurrences(of: "%@", with: "(float4)"))
        XCTAssertTrue(bad.log.contains("expression has no effect"), "NVRTC log: \(bad.log)")
        let good = try CUDAKernelCompiler.compile(target: "sm_90", tuning: tuning,
                                                  source: compat + body.replacingOccurrences(of: "%@", with: "VEC(float4)"))
        XCTAssertEqual(problems(good.log), [])
    }

    /// What the GPU variant of kernels.cl is made of (a fixed work-group size, `__local`
    /// tiles, barriers) compiles without warnings, with the work-group size as a launch bound.
    func testLocalMemoryKernelCompiles() throws {
        try requireNVRTC()
        let kernel = """
            __kernel __attribute__((reqd_work_group_size(16, 16, 1)))
            void transpose(__global const float* x, __global float* y, int n) {
                __local float tile[16][17];
                const int i = get_local_id(0), j = get_local_id(1);
                tile[j][i] = x[get_global_id(1) * n + get_global_id(0)];
                barrier(CLK_LOCAL_MEM_FENCE);
                y[(get_group_id(0) * 16 + j) * n + get_group_id(1) * 16 + i] = tile[i][j];
            }
            """
        let ptx = try CUDAKernelCompiler.compile(target: "compute_90", tuning: tuning, source: CUDAKernelCompiler.compatHeader + kernel)
        XCTAssertEqual(problems(ptx.log), [])
        let text = String(decoding: ptx.data.prefix(while: { $0 != 0 }), as: UTF8.self)
        XCTAssertTrue(text.contains(".maxntid 256, 1, 1"), "launch bound from reqd_work_group_size")
        XCTAssertTrue(text.contains("bar.sync") || text.contains("barrier.sync"), "barrier → __syncthreads")
        XCTAssertTrue(text.contains(".shared"), "__local → __shared__")
    }

    func testTargetChoice() throws {
        try requireNVRTC()
        let archs = try CUDAKernelCompiler.supportedArchitectures()
        XCTAssertTrue(archs.contains(90), "NVRTC supports sm_90: \(archs)")
        XCTAssertEqual(try CUDAKernelCompiler.target(major: 9, minor: 0), "sm_90")
        // A compute capability NVRTC does not list gets PTX of the newest one below it.
        let below = archs.last!
        XCTAssertEqual(try CUDAKernelCompiler.target(major: 99, minor: 9), "compute_\(below)")
        XCTAssertThrowsError(try CUDAKernelCompiler.target(major: 1, minor: 0)) { e in
            XCTAssertEqual((e as? CUDAError)?.source, .unavailable)
        }
    }

    func testCacheKeyHash() {
        XCTAssertEqual(CUDAKernelCompiler.fnv1a(""), "cbf29ce484222325")
        XCTAssertEqual(CUDAKernelCompiler.fnv1a("a"), "af63dc4c8601ec8c")   // FNV-1a 64 reference value
        XCTAssertNotEqual(CUDAKernelCompiler.fnv1a("sm_80"), CUDAKernelCompiler.fnv1a("sm_90"))
    }

    func testErrorsAreNamed() {
        let e = CUDAError(source: .nvrtc, code: 6, name: "NVRTC_ERROR_COMPILATION", call: "nvrtcCompileProgram", log: "kernels.cl(3): error")
        XCTAssertTrue(e.description.contains("NVRTC_ERROR_COMPILATION") && e.description.contains("kernels.cl(3): error"))
        XCTAssertTrue(CUDAError.unavailable("no NVIDIA driver").description.contains("CUDA is not available: no NVIDIA driver"))
        XCTAssertThrowsError(try CUDAError.checkBLAS(15, "cublasGemmEx")) { e in
            XCTAssertEqual((e as? CUDAError)?.name, "CUBLAS_STATUS_NOT_SUPPORTED")
        }
    }

    func testBadSourceFailsWithTheLog() throws {
        try requireNVRTC()
        XCTAssertThrowsError(try CUDAKernelCompiler.compile(target: "sm_90", tuning: tuning, source: "__global__ void k() { undeclared(); }")) { e in
            guard let e = e as? CUDAError else { return XCTFail("\(e)") }
            XCTAssertEqual(e.source, .nvrtc)
            XCTAssertTrue(e.log?.contains("undeclared") ?? false, "log: \(e.log ?? "none")")
        }
    }

    /// `--device cuda` here fails with the reason; `devices` says it in one line, exit 0.
    func testWithoutCUDA() throws {
        guard let reason = CUDADeviceInfo.unavailableReason() else { throw XCTSkip("CUDA is usable on this machine") }
        XCTAssertThrowsError(try DeviceSelector.open("cuda")) { e in
            XCTAssertTrue(e.commandLineDescription.contains("--device cuda: CUDA is not available: \(reason)"), "\(e)")
        }
        XCTAssertThrowsError(try DeviceSelector.open("cuda:x")) { e in XCTAssertTrue("\(e)".contains("cuda:N"), "\(e)") }
        XCTAssertFalse(try DeviceSelector.open("auto") is CUDABackend)
    }

    /// Only the coupling networks' GEMMs are marked for reduced precision: a spy backend
    /// records the mark at every GEMM of a training step.
    func testReducedPrecisionOnlyInCouplingNetworks() throws {
        let spy = PrecisionSpy()
        var cfg = try GlowConfig.named("tiny")
        cfg.batch = 2
        let model = try Glow(config: cfg, backend: spy, seed: 1)
        let pixels = (0..<(cfg.batch * cfg.dimension)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let set = try ImageSet(count: cfg.batch, channels: cfg.channels, height: cfg.height, width: cfg.width, pixels: pixels)
        let trainer = try Trainer(model: model, optimizer: OptimizerConfig(), data: set, batch: cfg.batch, seed: 1, memory: .store)
        try trainer.initialize()
        spy.marked = 0; spy.unmarked = 0
        _ = try trainer.trainStep()
        XCTAssertFalse(spy.reducedPrecisionAllowed, "the mark is cleared after the coupling network")
        // Per step of flow: conv1, conv2, conv_zeros forward, each with two backward GEMMs.
        let steps = cfg.K * cfg.L
        XCTAssertEqual(spy.marked, steps * 9, "coupling-network GEMMs")
        XCTAssertGreaterThan(spy.unmarked, 0, "1×1 invertible convolutions and priors stay FP32")
    }
}

extension CLITests {
    /// Without CUDA: `devices` gives the reason in one line and exits 0; `--device cuda`
    /// fails with it.
    func testCUDAUnavailableFromTheCommandLine() throws {
        guard let reason = CUDADeviceInfo.unavailableReason() else { throw XCTSkip("CUDA is usable on this machine") }
        let devices = try run(["devices"])
        XCTAssertEqual(devices.status, 0, devices.stderr)
        let lines = devices.stdout.split(separator: "\n").filter { $0.hasPrefix("cuda") }
        XCTAssertEqual(lines.count, 1, devices.stdout)
        XCTAssertTrue(lines.first?.hasPrefix("cuda       unavailable: \(reason) [found: ") ?? false, devices.stdout)
        let bench = try run(["bench", "--device", "cuda", "--config", "tiny"])
        XCTAssertNotEqual(bench.status, 0)
        XCTAssertTrue(bench.stderr.contains("--device cuda: CUDA is not available: \(reason)"), bench.stderr)
        let tf32 = try run(["bench", "--device", "cpu", "--precision", "tf32", "--config", "tiny"])
        XCTAssertNotEqual(tf32.status, 0)
        XCTAssertTrue(tf32.stderr.contains("--precision tf32") && tf32.stderr.contains("FP32 only"), tf32.stderr)
    }
}

extension CUDATests {
    /// GLOW_CUDA_PATH is searched first: `devices`, run from another folder, reports the NVRTC
    /// of the folder it names.
    func testGlowCUDAPathIsSearched() throws {
        try requireNVRTC()
        guard let bin = CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        let nvrtc = URL(fileURLWithPath: CUDALibraries.paths.nvrtc)
        // A copy of NVRTC's folder, so that only GLOW_CUDA_PATH can lead to it.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-cuda-path-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in try FileManager.default.contentsOfDirectory(atPath: nvrtc.deletingLastPathComponent().path) {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(f),
                                                       withDestinationURL: nvrtc.deletingLastPathComponent().appendingPathComponent(f))
        }
        let p = Process()
        p.executableURL = bin
        p.arguments = ["devices"]
        p.currentDirectoryURL = dir
        p.environment = ProcessInfo.processInfo.environment.merging(["GLOW_CUDA_PATH": "/nonexistent:" + dir.path]) { $1 }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        if CUDADeviceInfo.unavailableReason() != nil {
            XCTAssertTrue(text.contains("(\(dir.path)/\(nvrtc.lastPathComponent))"), text)
        }
    }
}

/// Skips when NVRTC cannot be loaded, or fails under `GLOW_REQUIRE_NVRTC=1`.
func requireNVRTC(file: StaticString = #filePath, line: UInt = #line) throws {
    do { _ = try CUDALibraries.nvrtc() } catch {
        if ProcessInfo.processInfo.environment["GLOW_REQUIRE_NVRTC"] == "1" {
            XCTFail("GLOW_REQUIRE_NVRTC=1 but \(error)", file: file, line: line)
        }
        throw XCTSkip("NVRTC not found (bash scripts/setup-cuda-tools.sh installs it): \(error)")
    }
}

/// The CPU backend with a `ReducedPrecisionGEMM` mark, counting GEMMs with and without it;
/// with `mantissaBits`, a marked GEMM first rounds A and B to that many mantissa bits (10:
/// TF32, 7: bfloat16), as reduced-precision hardware would. The 3×3 convolutions are
/// lowered to GEMMs on this backend (`loweredConv3x3…`), so their GEMMs are marked,
/// counted and rounded too.
final class PrecisionSpy: ForwardingBackend<CPUBackend>, ReducedPrecisionGEMM {
    var reducedPrecisionAllowed = false
    var marked = 0, unmarked = 0
    var mantissaBits: Int?

    init() { super.init(CPUBackend()) }

    /// `x` rounded to nearest (ties to even) at `bits` mantissa bits.
    static func round(_ x: Float, bits: Int) -> Float {
        let drop = UInt32(23 - bits)
        var u = x.bitPattern
        u = u &+ ((1 << (drop - 1)) - 1) &+ ((u >> drop) & 1)
        return Float(bitPattern: u & ~((1 << drop) - 1))
    }
    override var name: String { "spy" }
    override func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Buffer, aOffset: Int, lda: Int,
                       b: Buffer, bOffset: Int, ldb: Int, beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws {
        if reducedPrecisionAllowed { marked += 1 } else { unmarked += 1 }
        var (a, b) = (a, b)
        if reducedPrecisionAllowed, let bits = mantissaBits {
            a = try inner.makeBuffer(try inner.download(a).map { PrecisionSpy.round($0, bits: bits) })
            b = try inner.makeBuffer(try inner.download(b).map { PrecisionSpy.round($0, bits: bits) })
        }
        try inner.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, aOffset: aOffset, lda: lda,
                       b: b, bOffset: bOffset, ldb: ldb, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
    }
    override func conv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int {
        loweredConv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images, height: height, width: width)
    }
    override func conv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int, images: Int,
                                 height: Int, width: Int, y: Buffer, yOffset: Int, columns: Buffer?) throws {
        try loweredConv3x3Forward(x, xOffset: xOffset, weight: weight, inChannels: inChannels, outChannels: outChannels,
                                  images: images, height: height, width: width, y: y, yOffset: yOffset, columns: columns)
    }
    override func conv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int, images: Int,
                                      height: Int, width: Int, dx: Buffer, dxOffset: Int, columns: Buffer?) throws {
        try loweredConv3x3BackwardData(dy, dyOffset: dyOffset, weight: weight, inChannels: inChannels, outChannels: outChannels,
                                       images: images, height: height, width: width, dx: dx, dxOffset: dxOffset, columns: columns)
    }
    override func conv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels: Int, outChannels: Int,
                                         images: Int, height: Int, width: Int, dw: Buffer, columns: Buffer?) throws {
        try loweredConv3x3BackwardWeights(x, xOffset: xOffset, dy: dy, dyOffset: dyOffset, inChannels: inChannels,
                                          outChannels: outChannels, images: images, height: height, width: width, dw: dw,
                                          columns: columns)
    }
}
