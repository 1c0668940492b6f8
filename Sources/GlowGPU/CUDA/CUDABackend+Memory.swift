import CCUDA
import GlowCore

extension CUDABackend {
    /// The device's free and total memory now, in bytes (`cuMemGetInfo` in this backend's
    /// context); nil when the driver does not answer.
    public var deviceMemory: (free: Int, total: Int)? {
        makeCurrent()
        return CUDABackend.memoryInfo(api)
    }

    /// The most released memory the buffer pool keeps for reuse, in bytes.
    public var poolLimitBytes: Int { pool.limitBytes }

    /// `cuMemGetInfo` in the current context.
    static func memoryInfo(_ api: GlowCUDADriverAPI) -> (free: Int, total: Int)? {
        var free = 0, total = 0
        guard let f = api.cuMemGetInfo, f(&free, &total) == 0 else { return nil }
        return (free, total)
    }

    /// The buffer pool's limit for the device whose context is current: half of its free
    /// memory (`BufferPoolLimit`), measured once the module and cuBLAS are loaded.
    static func poolLimit(_ api: GlowCUDADriverAPI) -> Int {
        BufferPoolLimit.bytes(freeDeviceBytes: memoryInfo(api)?.free)
    }
}
