import CCUDA

/// The three CUDA libraries, loaded on first use (see Sources/CCUDA/loader.c for where they
/// are searched). Each accessor throws `CUDAError.unavailable` with the reason when its
/// library cannot be used.
public enum CUDALibraries {
    /// Runs one of the loader's `glow_cuda_load_*` functions: nil when the library loaded,
    /// else its status (`GLOW_CUDA_NOT_FOUND`, …) and the loader's message.
    private static func load(_ f: (UnsafeMutablePointer<CChar>?, Int) -> Int32) -> (status: Int32, message: String)? {
        var message = [CChar](repeating: 0, count: 4096)
        let status = f(&message, message.count)
        if status == Int32(GLOW_CUDA_FOUND) { return nil }
        return (status, message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// The kind of a failed NVRTC or cuBLAS load.
    private static func kind(_ status: Int32, notFound: CUDAError.Unavailability) -> CUDAError.Unavailability {
        switch Int(status) {
        case Int(GLOW_CUDA_NEWER_THAN_DRIVER): return .libraryNewerThanDriver
        case Int(GLOW_CUDA_UNUSABLE): return .libraryUnusable
        default: return notFound
        }
    }

    /// The driver, loaded and initialised once (`cuInit`).
    private static let driverResult: Result<GlowCUDADriverAPI, CUDAError> = {
        if let (_, why) = load(glow_cuda_load_driver) { return .failure(.unavailable(why, .noDriver)) }
        let api = glow_cuda_driver().pointee
        let st = api.cuInit!(0)
        if st != 0 {
            let e = CUDAError.driver(st, "cuInit")
            let path = String(cString: glow_cuda_driver_path())
            let what = "\(e.name) from cuInit, driver \(path)"
            switch st {
            case 100:
                return .failure(.unavailable("no CUDA device: the driver sees none (\(what)); check nvidia-smi and "
                    + "CUDA_VISIBLE_DEVICES", .noDevice))
            case 34:
                return .failure(.unavailable("no NVIDIA driver: \(path) is a CUDA toolkit's stub, not a driver (\(what)); "
                    + "remove its folder from LD_LIBRARY_PATH or GLOW_CUDA_PATH", .noDriver))
            case 35:
                return .failure(.unavailable("the NVIDIA driver failed: it is older than this libcuda needs (\(what))", .driverFailed))
            default:
                return .failure(.unavailable("the NVIDIA driver failed to initialise (\(what))", .driverFailed))
            }
        }
        return .success(api)
    }()

    /// The driver API table (libcuda.so.1, initialised).
    public static func driver() throws -> GlowCUDADriverAPI { try driverResult.get() }

    /// The NVRTC table: the newest NVRTC no newer than the driver (any, without a driver).
    public static func nvrtc() throws -> GlowNVRTCAPI {
        if let (status, why) = load(glow_cuda_load_nvrtc) {
            throw CUDAError.unavailable(why, kind(status, notFound: .nvrtcNotFound))
        }
        return glow_cuda_nvrtc().pointee
    }

    /// The cuBLAS table: the newest cuBLAS no newer than the driver.
    public static func cublas() throws -> GlowCUBLASAPI {
        if let (status, why) = load(glow_cuda_load_cublas) {
            throw CUDAError.unavailable(why, kind(status, notFound: .cublasNotFound))
        }
        return glow_cuda_cublas().pointee
    }

    /// What the loader did so far: one line per library file it loaded, skipped (with why:
    /// newer than the driver) or failed to load, e.g.
    /// `nvrtc: skipped /usr/local/cuda-13.0/lib64/libnvrtc.so.13: CUDA 13, newer than the driver (CUDA 12.4)`.
    public static var report: String { String(cString: glow_cuda_load_report()) }

    /// The driver's CUDA version, e.g. `13.0`.
    public static func driverVersion() throws -> String {
        var v: Int32 = 0
        try CUDAError.check(try driver().cuDriverGetVersion!(&v), "cuDriverGetVersion")
        return "\(v / 1000).\(v % 1000 / 10)"
    }

    /// The driver's version as the integer cuda.h uses (13000 for 13.0).
    static func driverVersionNumber() -> Int32 {
        var v: Int32 = 0
        if let api = try? driver() { _ = api.cuDriverGetVersion!(&v) }
        return v
    }

    /// NVRTC's version, e.g. `13.0`.
    public static func nvrtcVersion() throws -> String {
        var major: Int32 = 0, minor: Int32 = 0
        try CUDAError.checkNVRTC(try nvrtc().nvrtcVersion!(&major, &minor), "nvrtcVersion")
        return "\(major).\(minor)"
    }

    /// cuBLAS's version, e.g. `13.1.0`.
    public static func cublasVersion() throws -> String {
        let api = try cublas()
        var v: [Int32] = [0, 0, 0]
        for i in 0..<3 { try CUDAError.checkBLAS(api.cublasGetProperty!(Int32(i), &v[i]), "cublasGetProperty(\(i))") }
        return v.map(String.init).joined(separator: ".")
    }

    /// The files the libraries were loaded from (empty for one not loaded).
    public static var paths: (driver: String, nvrtc: String, cublas: String) {
        (String(cString: glow_cuda_driver_path()), String(cString: glow_cuda_nvrtc_path()), String(cString: glow_cuda_cublas_path()))
    }
}
