import CCUDA
import Foundation
import GlowCore

/// Device memory owned by a `CUDABackend` (from `cuMemAlloc`, never managed memory).
public final class CUDABuffer {
    let pointer: CUdeviceptr
    /// Floats held.
    public let count: Int
    /// The pool the allocation goes back to (nil for a view).
    let pool: BufferPool<CUdeviceptr>?
    /// The buffer a view aliases, kept alive by it.
    let parent: CUDABuffer?
    init(pointer: CUdeviceptr, count: Int, pool: BufferPool<CUdeviceptr>?, parent: CUDABuffer? = nil) {
        self.pointer = pointer; self.count = count; self.pool = pool; self.parent = parent
    }
    deinit { pool?.give(pointer, count: count) }
    /// The address of element `offset`.
    func address(_ offset: Int) -> CUdeviceptr { pointer + CUdeviceptr(offset * 4) }
}

/// A retained primary context, released when the backend and every buffer from it are
/// gone (buffers free their memory in it, so it must outlive them).
final class CUDAContextLease {
    let api: GlowCUDADriverAPI
    let device: CUdevice
    let context: CUcontext
    init(api: GlowCUDADriverAPI, device: CUdevice, name: String) throws {
        self.api = api; self.device = device
        var ctx: CUcontext?
        try CUDAError.check(api.cuDevicePrimaryCtxRetain!(&ctx, device), "cuDevicePrimaryCtxRetain(\(name))")
        guard let ctx else { throw CUDAError.unavailable("cuDevicePrimaryCtxRetain(\(name)) returned no context") }
        context = ctx
    }
    deinit { _ = api.cuDevicePrimaryCtxRelease!(device) }
}

/// The CUDA backend: the driver API's primary context on one device, one stream for all
/// work, kernels.cl compiled by NVRTC (through cuda_compat.h) at start-up or read from the
/// disk cache, GEMM by cuBLAS. Every other operation is `KernelBackend`'s, launched with
/// `cuLaunchKernel`. The host waits only in `download` and `synchronize`.
public final class CUDABackend: KernelBackend, ReducedPrecisionGEMM {
    public typealias Buffer = CUDABuffer

    /// The device.
    public let device: CUDADeviceInfo
    /// The kernel variant and constants the module was compiled with.
    public let tuning: KernelTuning
    /// Launches and host waits, for `bench`.
    public let counters = DeviceCounters()
    /// FP32, or TF32 for the GEMMs the model allows (`reducedPrecisionAllowed`).
    public var precision: GEMMPrecision
    /// Set by the model around the coupling networks (see `ReducedPrecisionGEMM`).
    public var reducedPrecisionAllowed = false
    /// The NVRTC options the module was compiled with.
    public let compileOptions: [String]
    /// True when the module came from the disk cache.
    public let moduleFromCache: Bool
    /// Seconds spent compiling (or loading) the module at start-up.
    public let buildSeconds: Double
    /// GEMMs run in TF32 since creation (for tests and `bench`).
    public private(set) var tf32GEMMs = 0

    let api: GlowCUDADriverAPI
    let blas: GlowCUBLASAPI
    let lease: CUDAContextLease
    var context: CUcontext { lease.context }
    let stream: CUstream
    let module: CUmodule
    let handle: cublasHandle_t
    private var functions: [Kernel: CUfunction] = [:]
    /// Released device buffers, reused by size (see `BufferPool`).
    let pool: BufferPool<CUdeviceptr>
    /// True when steps are recorded as CUDA graphs and replayed (`record`): the driver has
    /// graphs and `GLOW_CUDA_GRAPHS` is not `0`.
    public let recordsWork: Bool
    /// The capture in progress (`record`), nil otherwise.
    var capture: CUDACapture?
    /// The workspace cuBLAS was given for captured steps.
    var cublasWorkspace: CUDABuffer?

    /// The kernel variant and constants for `device`: the tuning table's entry for an NVIDIA
    /// GPU of that name (the GPU variant), after `GLOW_CL_VARIANT` and `GLOW_CL_TUNING`, as
    /// for OpenCL devices.
    public static func defaultTuning(for device: CUDADeviceInfo) throws -> KernelTuning {
        try KernelTuningTable.tuning(for: device.kernelDevice, environment: ProcessInfo.processInfo.environment)
    }

    /// Opens `device`: retains its primary context, creates the stream and the cuBLAS
    /// handle, and loads kernels.cl's module (compiling it when it is not cached).
    public init(device: CUDADeviceInfo, precision: GEMMPrecision = .fp32, tuning: KernelTuning? = nil) throws {
        if precision == .tf32 && device.major < 8 {
            throw GlowError("\(Setting.precision) tf32: \(device.name) (compute capability \(device.major).\(device.minor)) has no TF32 "
                + "tensor cores; they start at 8.0")
        }
        let api = try CUDALibraries.driver()
        let blas = try CUDALibraries.cublas()
        self.api = api; self.blas = blas; self.device = device; self.precision = precision
        self.tuning = try tuning ?? CUDABackend.defaultTuning(for: device)
        var dev: CUdevice = 0
        try CUDAError.check(api.cuDeviceGet!(&dev, Int32(device.index)), "cuDeviceGet(\(device.index))")
        let lease = try CUDAContextLease(api: api, device: dev, name: device.name)
        self.lease = lease
        let ctx = lease.context
        // Whatever fails from here on releases what was made before it (the lease goes by itself).
        var cleanups: [() -> Void] = []
        func fail(_ e: Error) -> Error { cleanups.reversed().forEach { $0() }; return e }
        do {
            try CUDAError.check(api.cuCtxSetCurrent!(ctx), "cuCtxSetCurrent")
            var s: CUstream?
            try CUDAError.check(api.cuStreamCreate!(&s, UInt32(GLOW_CU_STREAM_NON_BLOCKING)), "cuStreamCreate")
            stream = s!
            cleanups.append { [s] in _ = api.cuStreamDestroy!(s) }
            var h: cublasHandle_t?
            try CUDAError.checkBLAS(blas.cublasCreate!(&h), "cublasCreate")
            handle = h!
            cleanups.append { [h] in _ = blas.cublasDestroy!(h) }
            try CUDAError.checkBLAS(blas.cublasSetStream!(h, s), "cublasSetStream")
            let t0 = Date()
            let image = try CUDAKernelCompiler.image(for: device, tuning: self.tuning)
            compileOptions = image.options; moduleFromCache = image.fromCache
            module = try CUDABackend.load(image, api)
            buildSeconds = Date().timeIntervalSince(t0)
        } catch {
            throw fail(error)
        }
        // Keeps released buffers up to half the device memory free now (CUDABackend+Memory.swift).
        pool = BufferPool<CUdeviceptr>(limitBytes: CUDABackend.poolLimit(api), release: { p in
            _ = api.cuCtxSetCurrent!(lease.context)   // buffers may be released on another thread
            _ = api.cuMemFree!(p)
        })
        recordsWork = CUDABackend.graphsAvailable(api, environment: ProcessInfo.processInfo.environment)
        for kernel in Kernel.all {
            var f: CUfunction?
            let st = api.cuModuleGetFunction!(&f, module, kernel.name)
            if st != 0 { throw CUDAError.driver(st, "cuModuleGetFunction(\(kernel.name))") }
            functions[kernel] = f
        }
    }

    /// Loads a CUBIN or PTX image, with the driver's JIT log in the error.
    static func load(_ image: CUDAKernelCompiler.Image, _ api: GlowCUDADriverAPI) throws -> CUmodule {
        var log = [CChar](repeating: 0, count: 8192)
        var m: CUmodule?
        var options: [Int32] = [Int32(GLOW_CU_JIT_ERROR_LOG_BUFFER), Int32(GLOW_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)]
        let st = log.withUnsafeMutableBufferPointer { logPointer in
            var values: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(logPointer.baseAddress),
                                                     UnsafeMutableRawPointer(bitPattern: logPointer.count)]
            return image.data.withUnsafeBytes { bytes in
                api.cuModuleLoadDataEx!(&m, bytes.baseAddress, UInt32(options.count), &options, &values)
            }
        }
        if st != 0 {
            var call = "cuModuleLoadDataEx(kernels.cl as \(image.isCUBIN ? "CUBIN" : "PTX"), \(image.options.joined(separator: " ")))"
            // An image the driver is too old for: name both versions and the way out.
            if [200, 209, 218, 222].contains(st) {
                call += ": NVRTC \((try? CUDALibraries.nvrtcVersion()) ?? "?") (\(CUDALibraries.paths.nvrtc)) may be newer than the "
                    + "driver's CUDA \((try? CUDALibraries.driverVersion()) ?? "?"); point GLOW_CUDA_PATH at an NVRTC no newer than the driver"
            }
            let e = CUDAError.driver(st, call)
            throw CUDAError(source: .driver, code: e.code, name: e.name, call: e.call,
                            log: log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return m!
    }

    deinit {
        makeCurrent()
        _ = api.cuStreamSynchronize!(stream)
        cublasWorkspace = nil
        pool.trim()
        _ = blas.cublasDestroy!(handle)
        _ = api.cuModuleUnload!(module)
        _ = api.cuStreamDestroy!(stream)
        // The context itself is released by `lease` once the last buffer is gone.
    }

    public var name: String { "cuda (\(device.name), \(device.architecture), \(precision.rawValue))" }

    /// Makes the context current on the calling thread (a backend may be used from any one
    /// thread at a time).
    @inline(__always)
    func makeCurrent() { _ = api.cuCtxSetCurrent!(context) }

    // MARK: Launching

    public func enqueue(_ kernel: Kernel, _ args: [OpArgument<CUDABuffer>], global: [Int], local: [Int]) throws {
        guard let f = functions[kernel] else { throw GlowError("cuda: kernel \(kernel.name) missing") }
        var grid: [UInt32] = [1, 1, 1], block: [UInt32] = [1, 1, 1]
        let limits = [Int(Int32.max), 65535, 65535]
        for d in 0..<global.count {
            let groups = global[d] / local[d]
            guard d < 3, groups <= limits[d], local[d] <= 1024 else {
                throw GlowError("cuda: \(kernel.name) launch of \(global) work-items in groups of \(local) exceeds CUDA's grid limits")
            }
            grid[d] = UInt32(groups); block[d] = UInt32(local[d])
        }
        // Each argument's value in its own 8-byte slot; cuLaunchKernel takes their addresses.
        var slots = [UInt64](repeating: 0, count: args.count)
        for (i, a) in args.enumerated() {
            switch a {
            case let .buffer(b): slots[i] = b.pointer; capture?.uses(b)
            case let .int(v): slots[i] = UInt64(UInt32(bitPattern: Int32(truncatingIfNeeded: v)))
            case let .uint(v): slots[i] = UInt64(v)
            case let .float(v): slots[i] = UInt64(v.bitPattern)
            }
        }
        makeCurrent()
        let st = slots.withUnsafeMutableBufferPointer { s -> CUresult in
            var params = (0..<s.count).map { UnsafeMutableRawPointer(s.baseAddress! + $0) as UnsafeMutableRawPointer? }
            return params.withUnsafeMutableBufferPointer { p in
                api.cuLaunchKernel!(f, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, stream, p.baseAddress, nil)
            }
        }
        try CUDAError.check(st, "cuLaunchKernel(\(kernel.name), grid \(grid), block \(block))")
        capture?.operations += 1
    }

    // MARK: Buffers

    public func allocate(_ count: Int) throws -> CUDABuffer {
        // While capturing, memory becomes the graph's (its addresses are baked into it).
        let owner = capture?.arena ?? pool
        if let p = capture?.arena.take(count: count) ?? pool.take(count: count) {
            return CUDABuffer(pointer: p, count: count, pool: owner)
        }
        makeCurrent()
        var p: CUdeviceptr = 0
        let bytes = max(count, 1) * 4
        var st = api.cuMemAlloc!(&p, bytes)
        if st == 2 {   // out of memory: give the pool's free buffers back and try once more
            pool.trim()
            st = api.cuMemAlloc!(&p, bytes)
        }
        try CUDAError.check(st, "cuMemAlloc(\(count) floats = \(bytes) bytes on \(device.name))")
        return CUDABuffer(pointer: p, count: count, pool: owner)
    }

    public func count(of buffer: CUDABuffer) -> Int { buffer.count }

    /// Any offset will do; 64 floats (256 bytes) keeps views on cuBLAS's preferred alignment.
    public var viewAlignment: Int { 64 }

    public func view(of buffer: CUDABuffer, offset: Int, count: Int) throws -> CUDABuffer {
        guard offset >= 0, count >= 0, offset + count <= buffer.count else {
            throw GlowError("cuda: view of \(count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        return CUDABuffer(pointer: buffer.address(offset), count: count, pool: nil, parent: buffer)
    }

    public func upload(_ values: [Float], to buffer: CUDABuffer, offset: Int) throws {
        if values.isEmpty { return }
        guard offset >= 0, offset + values.count <= buffer.count else {
            throw GlowError("cuda: upload of \(values.count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        try checkNotCapturing("upload of \(values.count) floats")
        makeCurrent()
        // From pageable memory the driver stages the source before returning, so `values`
        // may go away at once; the copy stays ordered with the stream's kernels.
        counters.uploads += 1
        try values.withUnsafeBytes { p in
            try CUDAError.check(api.cuMemcpyHtoDAsync!(buffer.address(offset), p.baseAddress, p.count, stream), "cuMemcpyHtoDAsync")
        }
    }

    public func download(_ buffer: CUDABuffer, offset: Int, count: Int) throws -> [Float] {
        if count == 0 { return [] }
        guard offset >= 0, offset + count <= buffer.count else {
            throw GlowError("cuda: download of \(count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        try checkNotCapturing("download of \(count) floats")
        makeCurrent()
        var out = [Float](repeating: 0, count: count)
        counters.hostWaits += 1; counters.downloads += 1
        try out.withUnsafeMutableBytes { p in
            try CUDAError.check(api.cuMemcpyDtoHAsync!(p.baseAddress, buffer.address(offset), p.count, stream), "cuMemcpyDtoHAsync")
            try CUDAError.check(api.cuStreamSynchronize!(stream), "cuStreamSynchronize (after a download)")
        }
        return out
    }

    public func synchronize() throws {
        try checkNotCapturing("synchronize")
        counters.hostWaits += 1
        makeCurrent()
        try CUDAError.check(api.cuStreamSynchronize!(stream), "cuStreamSynchronize")
    }

    // MARK: 3×3 convolutions

    // im2col + cuBLAS (Backend's lowering), not kernels.cl's implicit-GEMM kernels: cuBLAS
    // reaches the tensor cores, and TF32 under `--precision tf32`.
    public var implicitConvolutions: Bool { false }

    // MARK: GEMM

    /// Row-major `C = alpha · op(A) · op(B) + beta · C` as cuBLAS's column-major
    /// `Cᵀ = op(B)ᵀ · op(A)ᵀ` (a row-major matrix is its transpose in column-major order).
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: CUDABuffer, aOffset: Int, lda: Int, b: CUDABuffer, bOffset: Int, ldb: Int,
                     beta: Float, c: CUDABuffer, cOffset: Int, ldc: Int) throws {
        if m == 0 || n == 0 { return }
        for (v, what) in [(m, "m"), (n, "n"), (k, "k"), (lda, "lda"), (ldb, "ldb"), (ldc, "ldc")] where Int32(exactly: v) == nil {
            throw GlowError("cuda: gemm \(what) = \(v) exceeds cuBLAS's 32-bit sizes")
        }
        makeCurrent()
        counters.libraryCalls += 1
        if let capture { capture.uses(a); capture.uses(b); capture.uses(c); capture.operations += 1 }
        var alpha = alpha, beta = beta
        let opA = Int32(transA ? GLOW_CUBLAS_OP_T : GLOW_CUBLAS_OP_N)
        let opB = Int32(transB ? GLOW_CUBLAS_OP_T : GLOW_CUBLAS_OP_N)
        let pa = glow_cuda_float_pointer(a.address(aOffset)), pb = glow_cuda_float_pointer(b.address(bOffset))
        let pc = glow_cuda_float_pointer(c.address(cOffset))
        if precision == .tf32 && reducedPrecisionAllowed {
            let f32 = Int32(GLOW_CUDA_R_32F)
            try CUDAError.checkBLAS(blas.cublasGemmEx!(handle, opB, opA, Int32(n), Int32(m), Int32(k), &alpha,
                                                       pb, f32, Int32(ldb), pa, f32, Int32(lda), &beta, pc, f32, Int32(ldc),
                                                       Int32(GLOW_CUBLAS_COMPUTE_32F_FAST_TF32),
                                                       Int32(GLOW_CUBLAS_GEMM_DEFAULT)),
                                    "cublasGemmEx(TF32, m \(m), n \(n), k \(k))")
            tf32GEMMs += 1
        } else {
            try CUDAError.checkBLAS(blas.cublasSgemm!(handle, opB, opA, Int32(n), Int32(m), Int32(k), &alpha,
                                                      pb, Int32(ldb), pa, Int32(lda), &beta, pc, Int32(ldc)),
                                    "cublasSgemm(m \(m), n \(n), k \(k))")
        }
    }
}
