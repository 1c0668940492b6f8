import Foundation
import XCTest
@testable import GlowGPU

/// The CUDA loader's search (Sources/CCUDA/loader.c) on fake trees of folders holding stub
/// libraries built here with the C compiler: the three layouts users have (a system CUDA
/// toolkit; the driver plus PyTorch's pip wheels in a venv that is only on PATH; conda),
/// the choice of the newest CUDA major the driver supports, and what is reported when
/// nothing fits. Every search runs with `loaderPath: false` and a fake system root, so the
/// machine's own libraries never take part.
final class CUDALoaderTests: XCTestCase {
    /// Stub libraries, built once: `nvrtc-<major>.so`, `cublas-<major>.so`, `cuda.so`.
    nonisolated(unsafe) static var stubs: Result<URL, Error>?

    static func buildStubs() throws -> URL {
        if let stubs { return try stubs.get() }
        let result = Result<URL, Error> {
            let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            guard let cc = ["cc", "clang", "gcc"].lazy.compactMap({ name in
                path.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
            }).first else { throw XCTSkip("no C compiler (cc, clang or gcc) on PATH") }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-loader-stubs-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            // Each stub has the symbols the loader checks (and the version calls it asks a
            // library whose file name does not give its CUDA major).
            let source = """
                #if defined(STUB_NVRTC)
                int nvrtcGetSupportedArchs(int *a) { (void)a; return 0; }
                int nvrtcVersion(int *major, int *minor) { *major = STUB_MAJOR; *minor = 0; return 0; }
                #elif defined(STUB_CUBLAS)
                int cublasGemmEx(void) { return 0; }
                int cublasGetProperty(int type, int *value) { *value = type == 0 ? STUB_MAJOR : 0; return 0; }
                #else
                int cuDriverGetVersion(int *v) { *v = 12040; return 0; }
                #endif
                """
            let src = dir.appendingPathComponent("stub.c")
            try source.write(to: src, atomically: true, encoding: .utf8)
            var builds: [(String, [String])] = [("cuda.so", [])]
            for major in [11, 12, 13] {
                builds.append(("nvrtc-\(major).so", ["-DSTUB_NVRTC", "-DSTUB_MAJOR=\(major)"]))
                builds.append(("cublas-\(major).so", ["-DSTUB_CUBLAS", "-DSTUB_MAJOR=\(major)"]))
            }
            for (name, defines) in builds {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: cc)
                p.arguments = defines + ["-shared", "-fPIC", "-o", dir.appendingPathComponent(name).path, src.path]
                let err = Pipe()
                p.standardError = err
                try p.run()
                let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                guard p.terminationStatus == 0 else { throw XCTSkip("\(cc) could not build a stub library: \(message)") }
            }
            return dir
        }
        stubs = result
        return try result.get()
    }

    /// A fake tree: a fresh folder, and a way to put stub libraries (copies, so each has its
    /// own file) and other files into it.
    final class Tree {
        let root: URL
        let stubs: URL
        init(_ test: XCTestCase) throws {
            stubs = try CUDALoaderTests.buildStubs()
            root = try makeTempDirectory(test)
        }
        func url(_ path: String) -> URL { root.appendingPathComponent(String(path.drop { $0 == "/" })) }
        func path(_ path: String) -> String { url(path).path }

        /// Copies stub `stub` (e.g. `nvrtc-12.so`) to `path` in the tree.
        func library(_ path: String, _ stub: String) throws {
            let to = url(path)
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: stubs.appendingPathComponent(stub), to: to)
        }
        /// A file that is not a library.
        func file(_ path: String, _ text: String = "not a library\n", executable: Bool = false) throws {
            let to = url(path)
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: to, atomically: true, encoding: .utf8)
            if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: to.path) }
        }
        func folder(_ path: String) throws { try FileManager.default.createDirectory(at: url(path), withIntermediateDirectories: true) }
        func link(_ path: String, to target: String) throws {
            try FileManager.default.createDirectory(at: url(path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: self.path(path), withDestinationPath: target)
        }
        /// A search that sees only this tree.
        func search(cudaPath: String? = nil, path: String? = nil, virtualEnv: String? = nil, condaPrefix: String? = nil,
                    driverDirectory: String? = nil) -> CUDALibrarySearch {
            CUDALibrarySearch(cudaPath: cudaPath, path: path, virtualEnv: virtualEnv, condaPrefix: condaPrefix, home: nil,
                              workingDirectory: nil, executable: nil, driverDirectory: driverDirectory,
                              systemRoot: root.path, loaderPath: false)
        }
    }

    /// A system toolkit: /usr/local/cuda → cuda-12.4 beside cuda-13.0, cuda-11.8 and cuda-9.2.
    /// Each driver gets the newest toolkit it supports; the folders are searched newest
    /// version first (13.0, 12.4, 11.8, 9.2: by version, not by spelling).
    func testSystemToolkit() throws {
        let t = try Tree(self)
        for (version, major, nvrtcName) in [("13.0", 13, "libnvrtc.so.13"), ("12.4", 12, "libnvrtc.so.12"),
                                            ("11.8", 11, "libnvrtc.so.11.2")] {
            try t.library("/usr/local/cuda-\(version)/lib64/\(nvrtcName)", "nvrtc-\(major).so")
            try t.library("/usr/local/cuda-\(version)/lib64/libcublas.so.\(major)", "cublas-\(major).so")
        }
        try t.folder("/usr/local/cuda-9.2/lib64")
        try t.link("/usr/local/cuda", to: t.path("/usr/local/cuda-12.4"))
        let s = t.search()
        let folders = s.folders(.nvrtc)
        XCTAssertEqual(folders.filter { $0.contains("/usr/local/cuda") },
                       ["/usr/local/cuda/lib64", "/usr/local/cuda-13.0/lib64", "/usr/local/cuda-12.4/lib64",
                        "/usr/local/cuda-11.8/lib64", "/usr/local/cuda-9.2/lib64"].map(t.path))

        let on12 = s.find(.nvrtc, driverVersion: 12040)
        XCTAssertEqual(on12.status, .found, on12.message)
        XCTAssertEqual(on12.path, t.path("/usr/local/cuda/lib64/libnvrtc.so.12"), on12.report.joined(separator: "\n"))
        XCTAssert(on12.report.contains("nvrtc: skipped \(t.path("/usr/local/cuda-13.0/lib64/libnvrtc.so.13")): CUDA 13, "
            + "newer than the driver (CUDA 12.4)"), on12.report.joined(separator: "\n"))
        XCTAssertEqual(s.find(.cublas, driverVersion: 12080).path, t.path("/usr/local/cuda/lib64/libcublas.so.12"))
        XCTAssertEqual(s.find(.nvrtc, driverVersion: 13000).path, t.path("/usr/local/cuda-13.0/lib64/libnvrtc.so.13"))
        XCTAssertEqual(s.find(.cublas, driverVersion: 13010).path, t.path("/usr/local/cuda-13.0/lib64/libcublas.so.13"))
        XCTAssertEqual(s.find(.nvrtc, driverVersion: 11080).path, t.path("/usr/local/cuda-11.8/lib64/libnvrtc.so.11.2"))
        XCTAssertEqual(s.find(.cublas, driverVersion: 11080).path, t.path("/usr/local/cuda-11.8/lib64/libcublas.so.11"))
        // No driver: any major, the newest first.
        XCTAssertEqual(s.find(.nvrtc, driverVersion: 0).path, t.path("/usr/local/cuda-13.0/lib64/libnvrtc.so.13"))
    }

    /// The driver in the distribution's folder and PyTorch's pip wheels in a venv that is not
    /// activated (no VIRTUAL_ENV) but whose bin/ is on PATH, as containers and uv set it up;
    /// site-packages under lib64/ (uv, Fedora) and the CUDA 13 wheels' nvidia/cu13/lib.
    func testDriverAndPipWheelsInAVenvOnPATH() throws {
        let t = try Tree(self)
        try t.library("/usr/lib/x86_64-linux-gnu/libcuda.so.1", "cuda.so")
        let venv = "/home/user/project/.venv"
        try t.file(venv + "/bin/python3", "#!/bin/sh\n", executable: true)
        let site = venv + "/lib64/python3.12/site-packages/nvidia"
        try t.library(site + "/cuda_nvrtc/lib/libnvrtc.so.12", "nvrtc-12.so")
        try t.library(site + "/cublas/lib/libcublas.so.12", "cublas-12.so")
        try t.library(site + "/cublas/lib/libcublasLt.so.12", "cublas-12.so")
        try t.library(site + "/cu13/lib/libnvrtc.so.13", "nvrtc-13.so")
        // Another Python earlier on PATH without CUDA wheels, and a folder without python3.
        try t.file("/usr/bin/python3", "#!/bin/sh\n", executable: true)
        try t.folder("/usr/lib/python3/dist-packages")
        let path = [t.path("/usr/bin"), t.path("/opt/tools/bin"), t.path(venv + "/bin")].joined(separator: ":")

        let driver = t.search().find(.driver, driverVersion: 0)
        XCTAssertEqual(driver.path, t.path("/usr/lib/x86_64-linux-gnu/libcuda.so.1"), driver.message)
        let s = t.search(path: path, driverDirectory: t.path("/usr/lib/x86_64-linux-gnu"))
        XCTAssert(s.folders(.nvrtc).contains(t.path(site + "/cuda_nvrtc/lib")), s.folders(.nvrtc).joined(separator: "\n"))
        XCTAssertEqual(s.find(.nvrtc, driverVersion: 12040).path, t.path(site + "/cuda_nvrtc/lib/libnvrtc.so.12"))
        XCTAssertEqual(s.find(.nvrtc, driverVersion: 13000).path, t.path(site + "/cu13/lib/libnvrtc.so.13"))
        XCTAssertEqual(s.find(.cublas, driverVersion: 12040).path, t.path(site + "/cublas/lib/libcublas.so.12"))
        // Without the venv on PATH (and not activated) nothing is found, and the message says where it looked.
        let without = t.search(path: t.path("/usr/bin")).find(.nvrtc, driverVersion: 12040)
        XCTAssertEqual(without.status, .notFound)
        XCTAssert(without.message.hasPrefix("NVRTC not found (searched GLOW_CUDA_PATH (unset)"), without.message)
        XCTAssert(without.message.contains("libnvrtc.so.13, libnvrtc.so.12, libnvrtc.so.11.2") &&
                  without.message.contains("pip install nvidia-cuda-nvrtc-cu12"), without.message)
        // Activated instead (VIRTUAL_ENV, PATH without it): the same libraries.
        XCTAssertEqual(t.search(virtualEnv: t.path(venv)).find(.cublas, driverVersion: 12040).path,
                       t.path(site + "/cublas/lib/libcublas.so.12"))
    }

    /// conda: CONDA_PREFIX's own lib/ (conda-forge's cuda-nvrtc and libcublas) and its
    /// site-packages' pip wheels; a python3 of a conda prefix on PATH finds the same lib/.
    func testCondaPrefix() throws {
        let t = try Tree(self)
        let env = "/opt/miniforge/envs/glow"
        try t.folder(env + "/conda-meta")
        try t.library(env + "/lib/libnvrtc.so.12.6.85", "nvrtc-12.so")
        try t.link(env + "/lib/libnvrtc.so.12", to: "libnvrtc.so.12.6.85")
        try t.link(env + "/lib/libnvrtc.so", to: "libnvrtc.so.12")
        try t.library(env + "/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12", "cublas-12.so")
        try t.file(env + "/bin/python3", "#!/bin/sh\n", executable: true)
        let s = t.search(condaPrefix: t.path(env))
        let nvrtc = s.find(.nvrtc, driverVersion: 12020)
        // The same file through libnvrtc.so.12 and libnvrtc.so is one candidate.
        XCTAssertEqual(nvrtc.path, t.path(env + "/lib/libnvrtc.so.12"), nvrtc.report.joined(separator: "\n"))
        XCTAssertEqual(nvrtc.report, ["nvrtc: loaded \(t.path(env + "/lib/libnvrtc.so.12")) (CUDA 12)"])
        XCTAssertEqual(s.find(.cublas, driverVersion: 12020).path, t.path(env + "/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12"))
        XCTAssertEqual(t.search(path: t.path(env + "/bin")).find(.nvrtc, driverVersion: 12020).path, t.path(env + "/lib/libnvrtc.so.12"))
    }

    /// Never a library newer than the driver: CUDA 13 everywhere (by name, by an unversioned
    /// name whose file gives the version, and by a file that says nothing, whose own version
    /// call does) is skipped on a CUDA 12 driver and reported, and the error says so.
    func testNeverPicksALibraryNewerThanTheDriver() throws {
        let t = try Tree(self)
        try t.library("/usr/local/cuda-13.0/lib64/libnvrtc.so.13", "nvrtc-13.so")
        try t.library("/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnvrtc.so.13", "nvrtc-13.so")
        try t.library("/opt/conda13/lib/libnvrtc.so.13.0.48", "nvrtc-13.so")
        try t.link("/opt/conda13/lib/libnvrtc.so", to: "libnvrtc.so.13.0.48")
        try t.folder("/opt/conda13/conda-meta")
        try t.library("/usr/local/cuda-13.0/lib64/libcublas.so", "cublas-13.so")   // a plain file, no version in its name
        let s = t.search(virtualEnv: t.path("/opt/venv"), condaPrefix: t.path("/opt/conda13"))
        for driver in [12040, 11080] {
            let r = s.find(.nvrtc, driverVersion: driver)
            XCTAssertEqual(r.status, .newerThanDriver, r.report.joined(separator: "\n"))
            XCTAssertNil(r.path)
            XCTAssertEqual(r.report.filter { $0.contains("skipped") && $0.contains("CUDA 13, newer than the driver") }.count, 3,
                           r.report.joined(separator: "\n"))
            XCTAssert(r.message.hasPrefix("NVRTC newer than the driver: the driver supports CUDA \(driver / 1000).\(driver % 1000 / 10)"),
                      r.message)
            XCTAssert(r.message.contains(t.path("/usr/local/cuda-13.0/lib64/libnvrtc.so.13") + " (CUDA 13)"), r.message)
            let b = s.find(.cublas, driverVersion: driver)
            XCTAssertEqual(b.status, .newerThanDriver, b.report.joined(separator: "\n"))
            XCTAssert(b.message.hasPrefix("cuBLAS newer than the driver"), b.message)
        }
        // A CUDA 12 library anywhere, even last in the search order, is taken instead.
        try t.library("/home/user/.local/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12", "nvrtc-12.so")
        var withHome = s
        withHome.home = t.path("/home/user")
        XCTAssertEqual(withHome.find(.nvrtc, driverVersion: 12040).path,
                       t.path("/home/user/.local/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"))
        // And with a CUDA 13 driver, the CUDA 13 libraries are fine.
        XCTAssertEqual(s.find(.nvrtc, driverVersion: 13000).status, .found)
        XCTAssertEqual(s.find(.cublas, driverVersion: 13000).path, t.path("/usr/local/cuda-13.0/lib64/libcublas.so"))
    }

    /// GLOW_CUDA_PATH is taken before any other folder, even over a newer major elsewhere,
    /// but never for a library newer than the driver; a file that is not a usable library is
    /// reported and passed over, and when nothing else is left the error says it is unusable.
    func testGlowCUDAPathAndUnusableFiles() throws {
        let t = try Tree(self)
        try t.library("/usr/local/cuda/lib64/libnvrtc.so.13", "nvrtc-13.so")
        try t.library("/usr/local/cuda/lib64/libnvrtc.so.12", "nvrtc-12.so")
        try t.library("/pinned/lib/libnvrtc.so.12", "nvrtc-12.so")
        try t.library("/too-new/libnvrtc.so.13", "nvrtc-13.so")
        let pinned = t.search(cudaPath: "/nonexistent:" + t.path("/pinned"))
        XCTAssertEqual(pinned.find(.nvrtc, driverVersion: 13000).path, t.path("/pinned/lib/libnvrtc.so.12"))
        let tooNew = t.search(cudaPath: t.path("/too-new")).find(.nvrtc, driverVersion: 12040)
        XCTAssertEqual(tooNew.path, t.path("/usr/local/cuda/lib64/libnvrtc.so.12"), tooNew.report.joined(separator: "\n"))

        try t.file("/broken/libnvrtc.so.13")
        try t.library("/broken/libcublas.so.12", "nvrtc-12.so")   // a library, but not cuBLAS
        let broken = t.search(cudaPath: t.path("/broken"))
        let r = broken.find(.nvrtc, driverVersion: 13000)
        XCTAssertEqual(r.path, t.path("/usr/local/cuda/lib64/libnvrtc.so.13"))
        XCTAssert(r.report.first?.hasPrefix("nvrtc: failed \(t.path("/broken/libnvrtc.so.13")): ") ?? false, r.report.joined(separator: "\n"))
        let b = broken.find(.cublas, driverVersion: 13000)
        XCTAssertEqual(b.status, .unusable)
        XCTAssert(b.message.hasPrefix("cuBLAS unusable: \(t.path("/broken/libcublas.so.12")) has no cublasGemmEx"), b.message)
    }

    /// This process's own search includes the project's .cuda-tools, where
    /// scripts/setup-cuda-tools.sh puts NVRTC.
    func testEnvironmentSearchFindsCUDATools() throws {
        let root = TestPaths.root
        let tools = root.appendingPathComponent(".cuda-tools/nvidia")
        guard let component = try? FileManager.default.contentsOfDirectory(atPath: tools.path).first(where: {
            FileManager.default.fileExists(atPath: tools.appendingPathComponent("\($0)/lib").path)
        }) else { throw XCTSkip("no .cuda-tools/nvidia/*/lib (bash scripts/setup-cuda-tools.sh installs NVRTC there)") }
        let s = CUDALibrarySearch.environment()
        XCTAssertTrue(s.loaderPath)
        XCTAssertEqual(s.systemRoot, "")
        let folders = s.folders(.nvrtc).map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        XCTAssert(folders.contains(tools.appendingPathComponent("\(component)/lib").standardizedFileURL.path), folders.joined(separator: "\n"))
        XCTAssertEqual(s.folders(.driver).first { $0.contains(".cuda-tools") }, nil, "the driver is never looked for in Python wheels")
    }
}
