import CCUDA

/// A CUDA failure: which library, the call, and its status by name (`CUDA_ERROR_OUT_OF_MEMORY`,
/// `NVRTC_ERROR_COMPILATION`, `CUBLAS_STATUS_NOT_SUPPORTED`, …); an NVRTC failure carries the
/// compiler's log. `unavailable` is CUDA missing altogether (no driver, no device, no NVRTC
/// or cuBLAS), with the reason.
public struct CUDAError: Error, CustomStringConvertible, Sendable {
    /// The library that reported the failure.
    public enum Source: String, Sendable {
        /// Loading the libraries or finding a device.
        case unavailable
        /// The driver API (libcuda).
        case driver
        /// The run-time compiler.
        case nvrtc
        /// cuBLAS.
        case cublas
    }

    /// The library.
    public let source: Source
    /// The raw status (`-1` for `unavailable`).
    public let code: Int32
    /// The status's name.
    public let name: String
    /// What was being done, e.g. `cuMemAlloc(4096 bytes)`.
    public let call: String
    /// The compiler's (or the driver's JIT) log, when there is one.
    public let log: String?
    /// For `unavailable`: which of CUDA's parts is missing (nil for other errors).
    public let unavailability: Unavailability?

    /// Why CUDA cannot be used. Each reason's message starts with its own words (the raw
    /// value), so `devices`, `--device cuda` and scripts/gpu-check.sh tell them apart.
    public enum Unavailability: String, Sendable, CaseIterable {
        /// libcuda.so.1 is nowhere (or is not a driver).
        case noDriver = "no NVIDIA driver"
        /// The driver loads but sees no device.
        case noDevice = "no CUDA device"
        /// The driver loads but `cuInit` fails for another reason (a toolkit's stub, a
        /// forward-compatibility package the GPU does not support, …).
        case driverFailed = "the NVIDIA driver failed"
        /// No libnvrtc.so.13/.12/.11.2 in any folder searched.
        case nvrtcNotFound = "NVRTC not found"
        /// No libcublas.so.13/.12/.11 in any folder searched.
        case cublasNotFound = "cuBLAS not found"
        /// NVRTC or cuBLAS found, but only of a CUDA major newer than the driver's.
        case libraryNewerThanDriver = "newer than the driver"
        /// NVRTC or cuBLAS found, but it fails to load or lacks a needed function.
        case libraryUnusable = "unusable"
        /// Anything else (e.g. no NVRTC target for the device).
        case other = "CUDA is not usable"
    }

    /// An error with every field given.
    public init(source: Source, code: Int32, name: String, call: String, log: String? = nil,
                unavailability: Unavailability? = nil) {
        self.source = source; self.code = code; self.name = name; self.call = call; self.log = log
        self.unavailability = unavailability ?? (source == .unavailable ? .other : nil)
    }

    /// CUDA cannot be used here, for `reason` (of kind `kind`).
    public static func unavailable(_ reason: String, _ kind: Unavailability = .other) -> CUDAError {
        CUDAError(source: .unavailable, code: -1, name: "CUDA_UNAVAILABLE", call: reason, unavailability: kind)
    }

    public var description: String {
        var s: String
        switch source {
        case .unavailable: s = "CUDA is not available: \(call)"
        case .driver: s = "CUDA driver error \(name) (\(code)) in \(call)"
        case .nvrtc: s = "NVRTC error \(name) (\(code)) in \(call)"
        case .cublas: s = "cuBLAS error \(name) (\(code)) in \(call)"
        }
        if let log, !log.isEmpty { s += "\nlog:\n\(log)" }
        return s
    }

    /// Throws unless `status` is `CUDA_SUCCESS`.
    @inline(__always)
    static func check(_ status: CUresult, _ call: @autoclosure () -> String) throws {
        if status != 0 { throw driver(status, call()) }
    }

    /// The error for a driver status, named by the driver itself when it is loaded.
    static func driver(_ status: CUresult, _ call: String) -> CUDAError {
        var name = driverNames[status] ?? "CUDA_ERROR_\(status)"
        if glow_cuda_load_driver(nil, 0) == 0, let f = glow_cuda_driver().pointee.cuGetErrorName {
            var p: UnsafePointer<CChar>?
            if f(status, &p) == 0, let p { name = String(cString: p) }
        }
        return CUDAError(source: .driver, code: status, name: name, call: call)
    }

    /// Throws unless `status` is `NVRTC_SUCCESS`.
    @inline(__always)
    static func checkNVRTC(_ status: nvrtcResult, _ call: @autoclosure () -> String, log: String? = nil) throws {
        if status != 0 {
            var name = nvrtcNames[status] ?? "NVRTC_ERROR_\(status)"
            if let f = glow_cuda_nvrtc().pointee.nvrtcGetErrorString, let p = f(status) { name = String(cString: p) }
            throw CUDAError(source: .nvrtc, code: status, name: name, call: call(), log: log)
        }
    }

    /// Throws unless `status` is `CUBLAS_STATUS_SUCCESS`.
    @inline(__always)
    static func checkBLAS(_ status: cublasStatus_t, _ call: @autoclosure () -> String) throws {
        if status != 0 {
            throw CUDAError(source: .cublas, code: status, name: cublasNames[status] ?? "CUBLAS_STATUS_\(status)", call: call())
        }
    }

    // Names for when the library cannot name its own status (cuda.h, nvrtc.h, cublas_api.h).
    static let driverNames: [Int32: String] = [
        1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
        4: "CUDA_ERROR_DEINITIALIZED", 34: "CUDA_ERROR_STUB_LIBRARY", 35: "CUDA_ERROR_INSUFFICIENT_DRIVER",
        46: "CUDA_ERROR_DEVICES_UNAVAILABLE", 100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE",
        200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT", 209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
        218: "CUDA_ERROR_INVALID_PTX", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", 400: "CUDA_ERROR_INVALID_HANDLE",
        500: "CUDA_ERROR_NOT_FOUND", 700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        702: "CUDA_ERROR_LAUNCH_TIMEOUT", 719: "CUDA_ERROR_LAUNCH_FAILED", 803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE", 999: "CUDA_ERROR_UNKNOWN",
    ]
    static let nvrtcNames: [Int32: String] = [
        1: "NVRTC_ERROR_OUT_OF_MEMORY", 2: "NVRTC_ERROR_PROGRAM_CREATION_FAILURE", 3: "NVRTC_ERROR_INVALID_INPUT",
        4: "NVRTC_ERROR_INVALID_PROGRAM", 5: "NVRTC_ERROR_INVALID_OPTION", 6: "NVRTC_ERROR_COMPILATION",
        7: "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE", 11: "NVRTC_ERROR_INTERNAL_ERROR",
    ]
    static let cublasNames: [Int32: String] = [
        1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
        8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
        14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
    ]
}
