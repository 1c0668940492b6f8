import CCUDA

/// The three CUDA libraries, loaded on first use (see Sources/CCUDA/loader.c for where they
/// are searched). Each accessor throws `CUDAError.unavailable` with the reason when its
/// library cannot be used.
public enum CUDALibraries {
    private static func load(_ f: (UnsafeMutablePointer<CChar>?, Int) -> Int32) -> String? {
        var message = [CChar](repeating: 0, count: 1024)
        if f(&message, message.count) == 0 { return nil }
        return message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The driver, loaded and initialised once (`cuInit`).
    private static let driverResult: Result<GlowCUDADriverAPI, CUDAError> = {
        if let why = load(glow_cuda_load_driver) { return .failure(.unavailable(why)) }
        let api = glow_cuda_driver().pointee
        let st = api.cuInit!(0)
        if st != 0 {
            let e = CUDAError.driver(st, "cuInit")
            let hint = st == 100 ? "no CUDA-capable device is visible"
                : st == 35 ? "the NVIDIA driver is older than this CUDA version needs"
                : st == 34 ? "\(String(cString: glow_cuda_driver_path())) is the toolkit's stub, not a driver"
                : "the driver failed to initialise"
            return .failure(.unavailable("\(hint) (\(e.name) from cuInit, driver \(String(cString: glow_cuda_driver_path())))"))
        }
        return .success(api)
    }()

    /// The driver API table (libcuda.so.1, initialised).
    public static func driver() throws -> GlowCUDADriverAPI { try driverResult.get() }

    /// The NVRTC table.
    public static func nvrtc() throws -> GlowNVRTCAPI {
        if let why = load(glow_cuda_load_nvrtc) { throw CUDAError.unavailable(why) }
        return glow_cuda_nvrtc().pointee
    }

    /// The cuBLAS table.
    public static func cublas() throws -> GlowCUBLASAPI {
        if let why = load(glow_cuda_load_cublas) { throw CUDAError.unavailable(why) }
        return glow_cuda_cublas().pointee
    }

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
