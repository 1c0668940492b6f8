import CCUDA
import GlowCore

/// One CUDA device as the driver reports it.
public struct CUDADeviceInfo: Sendable {
    /// The driver's ordinal, the N of `--device cuda:N`.
    public let index: Int
    /// e.g. `NVIDIA H200`.
    public let name: String
    /// Compute capability, major part (9 for Hopper).
    public let major: Int
    /// Compute capability, minor part.
    public let minor: Int
    /// Device memory in bytes.
    public let memory: UInt64
    /// Streaming multiprocessors.
    public let multiprocessors: Int
    /// The most threads a block may have.
    public var maxThreadsPerBlock: Int = 1024
    /// Static shared memory a block may declare, in bytes.
    public var sharedMemoryPerBlock: Int = 48 << 10

    /// The device as the kernel tuning table sees it.
    public var kernelDevice: KernelDevice {
        KernelDevice(type: "GPU", vendor: "NVIDIA Corporation", name: name, computeUnits: multiprocessors,
                     maxWorkGroupSize: maxThreadsPerBlock, localMemory: sharedMemoryPerBlock)
    }

    /// `sm_90` and the like.
    public var architecture: String { "sm_\(major)\(minor)" }

    /// Every device the driver sees. Throws `CUDAError.unavailable` when there is no driver
    /// or no device.
    public static func all() throws -> [CUDADeviceInfo] {
        let api = try CUDALibraries.driver()
        var count: Int32 = 0
        try CUDAError.check(api.cuDeviceGetCount!(&count), "cuDeviceGetCount")
        if count == 0 { throw CUDAError.unavailable("no CUDA device: the NVIDIA driver reports none; check nvidia-smi and CUDA_VISIBLE_DEVICES", .noDevice) }
        return try (0..<Int(count)).map { i in
            var dev: CUdevice = 0
            try CUDAError.check(api.cuDeviceGet!(&dev, Int32(i)), "cuDeviceGet(\(i))")
            var name = [CChar](repeating: 0, count: 256)
            try CUDAError.check(api.cuDeviceGetName!(&name, Int32(name.count - 1), dev), "cuDeviceGetName(\(i))")
            func attribute(_ a: Int32) throws -> Int {
                var v: Int32 = 0
                try CUDAError.check(api.cuDeviceGetAttribute!(&v, a, dev), "cuDeviceGetAttribute(\(a), device \(i))")
                return Int(v)
            }
            var bytes = 0
            try CUDAError.check(api.cuDeviceTotalMem!(&bytes, dev), "cuDeviceTotalMem(\(i))")
            var info = CUDADeviceInfo(
                index: i, name: name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
                major: try attribute(Int32(GLOW_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)),
                minor: try attribute(Int32(GLOW_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)),
                memory: UInt64(bytes),
                multiprocessors: try attribute(Int32(GLOW_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)))
            info.maxThreadsPerBlock = try attribute(Int32(GLOW_CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK))
            info.sharedMemoryPerBlock = try attribute(Int32(GLOW_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK))
            return info
        }
    }

    /// The devices, after checking that NVRTC and cuBLAS load too; throws
    /// `CUDAError.unavailable` with the first thing missing.
    public static func usable() throws -> [CUDADeviceInfo] {
        let devices = try all()
        _ = try CUDALibraries.nvrtc()
        _ = try CUDALibraries.cublas()
        return devices
    }

    /// Why the CUDA backend cannot run here, or nil when it can.
    public static func unavailableReason() -> String? {
        do { _ = try usable(); return nil } catch let e as CUDAError where e.source == .unavailable {
            return e.call
        } catch {
            return "\(error)"
        }
    }
}
