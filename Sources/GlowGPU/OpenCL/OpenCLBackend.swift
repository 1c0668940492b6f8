import COpenCL
import Foundation
import GlowCore
import Kernels

/// Device memory owned by an `OpenCLBackend`.
public final class OpenCLBuffer {
    let mem: cl_mem
    /// Floats held.
    public let count: Int
    /// The pool the allocation goes back to (nil for a sub-buffer, which is released).
    let pool: BufferPool<cl_mem>?
    /// The buffer a sub-buffer aliases, kept alive by it.
    let parent: OpenCLBuffer?
    init(mem: cl_mem, count: Int, pool: BufferPool<cl_mem>?, parent: OpenCLBuffer? = nil) {
        self.mem = mem; self.count = count; self.pool = pool; self.parent = parent
    }
    deinit {
        if let pool { pool.give(mem, count: count) } else { clReleaseMemObject(mem) }
    }
}

/// The OpenCL backend: kernels.cl built once per device (with `-D` tuning constants), every
/// kernel created at start-up, all work queued in order on one queue and synchronised only
/// where the host needs a result.
public final class OpenCLBackend: KernelBackend {
    public typealias Buffer = OpenCLBuffer

    /// The device this backend runs on.
    public let device: OpenCLDeviceInfo
    /// The kernel variant and constants the program was built with.
    public let tuning: KernelTuning
    /// Launches and host waits, for `bench`.
    public let counters = DeviceCounters()
    /// The options the program was built with.
    public let buildOptions: String
    /// Seconds spent building (or loading) the program at start-up.
    public private(set) var buildSeconds: Double = 0
    let context: cl_context
    let queue: cl_command_queue
    let program: cl_program
    private var kernels: [Kernel: cl_kernel] = [:]
    /// Released device buffers, reused by size (see `BufferPool`).
    let pool = BufferPool<cl_mem>(release: { clReleaseMemObject($0) })
    private var built = false
    /// Floats of `CL_DEVICE_MEM_BASE_ADDR_ALIGN`: sub-buffers must start on it.
    public let viewAlignment: Int
    /// Host copies of non-blocking uploads, freed at the next wait (the in-order queue has
    /// read them by then).
    private var staged: [UnsafeMutableRawPointer] = []
    /// cl_khr_command_buffer, when the device offers it (`record`).
    let commandBuffers: OpenCLCommandBufferAPI?
    /// The recording in progress (`record`), nil otherwise.
    var recording: OpenCLRecording?
    /// True when training steps are recorded into a command buffer and replayed: the device
    /// reports cl_khr_command_buffer and `GLOW_CL_COMMAND_BUFFERS` is not `0`.
    public var recordsWork: Bool { commandBuffers != nil }

    /// clBuildProgram's options: `-cl-kernel-arg-info` (start-up compares the argument kinds
    /// read from the source with the program's), the tuning's `-D`s and, for the GPU variant
    /// on NVIDIA's OpenCL, `-cl-nv-maxrregcount` at the registers that keep `GROUPS_PER_CU`
    /// groups of the tiled kernels resident per SM (65,536 registers per SM; what the CUDA
    /// backend gets from the launch bound of kernels.cl's `GEMM_GROUP`).
    public static func buildOptions(tuning: KernelTuning, vendor: String) -> String {
        var options = ["-cl-mad-enable", "-cl-kernel-arg-info"]
        if tuning.variant == .gpu && vendor.uppercased().contains("NVIDIA") {
            let threads = tuning[.mdimc] * tuning[.ndimc] * max(1, tuning[.groupsPerCU])
            options.append("-cl-nv-maxrregcount=\(min(255, 65_536 / max(1, threads)))")
        }
        return (options + tuning.defines).joined(separator: " ")
    }

    /// Opens `device`, building kernels.cl for it with the variant and constants
    /// `KernelTuningTable` picks (after `GLOW_CL_VARIANT` and `GLOW_CL_TUNING`), then
    /// `tuning` laid over them.
    public init(device: OpenCLDeviceInfo, tuning: [String: Int] = [:]) throws {
        self.device = device
        commandBuffers = OpenCLCommandBufferAPI(device: device, environment: ProcessInfo.processInfo.environment)
        var alignBits: cl_uint = 0
        clGetDeviceInfo(device.deviceID, cl_device_info(CL_DEVICE_MEM_BASE_ADDR_ALIGN), 4, &alignBits, nil)
        viewAlignment = max(1, Int(alignBits) / 32)
        self.tuning = try KernelTuningTable.tuning(for: device.kernelDevice,
                                                   environment: ProcessInfo.processInfo.environment, overrides: tuning)
        var st: cl_int = 0
        var dev: cl_device_id? = device.deviceID
        guard let ctx = clCreateContext(nil, 1, &dev, nil, nil, &st), st == CL_SUCCESS else {
            throw OpenCLError(st, "clCreateContext(\(device.name))")
        }
        context = ctx
        guard let q = clCreateCommandQueue(ctx, device.deviceID, 0, &st), st == CL_SUCCESS else {
            clReleaseContext(ctx)
            throw OpenCLError(st, "clCreateCommandQueue(\(device.name))")
        }
        queue = q
        buildOptions = OpenCLBackend.buildOptions(tuning: self.tuning, vendor: device.vendor)
        let t0 = Date()
        let source = KernelSource.text
        let created = source.withCString { text -> cl_program? in
            var src: UnsafePointer<CChar>? = text
            var len = strlen(text)
            return clCreateProgramWithSource(ctx, 1, &src, &len, &st)
        }
        guard let prog = created, st == CL_SUCCESS else {
            clReleaseCommandQueue(q); clReleaseContext(ctx)
            throw OpenCLError(st, "clCreateProgramWithSource")
        }
        program = prog
        let bst = clBuildProgram(prog, 1, &dev, buildOptions, nil, nil)
        if bst != CL_SUCCESS {
            let log = OpenCLBackend.buildLog(prog, device.deviceID)
            // deinit releases the queue and context; PoCL 3.1 aborts when a program whose
            // build failed is released, so that one is left alone.
            throw OpenCLError(bst, "clBuildProgram(kernels.cl on \(device.name), options \"\(buildOptions)\")", buildLog: log)
        }
        built = true
        buildSeconds = Date().timeIntervalSince(t0)
        for kernel in Kernel.all {
            guard let k = clCreateKernel(prog, kernel.name, &st), st == CL_SUCCESS else {
                throw OpenCLError(st, "clCreateKernel(\(kernel.name))")
            }
            kernels[kernel] = k
            try OpenCLBackend.checkArguments(k, kernel)
        }
    }

    deinit {
        if !staged.isEmpty { clFinish(queue); staged.forEach { free($0) } }
        for k in kernels.values { clReleaseKernel(k) }
        if built { clReleaseProgram(program) }
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    static func buildLog(_ p: cl_program, _ d: cl_device_id) -> String {
        var size = 0
        clGetProgramBuildInfo(p, d, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
        var bytes = [CChar](repeating: 0, count: size + 1)
        clGetProgramBuildInfo(p, d, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
        return bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public var name: String { "opencl (\(device.name), \(device.platform))" }

    /// Compares `kernel.arguments` with the compiled kernel's own argument list.
    static func checkArguments(_ k: cl_kernel, _ kernel: Kernel) throws {
        var n: cl_uint = 0
        try OpenCLError.check(clGetKernelInfo(k, cl_kernel_info(CL_KERNEL_NUM_ARGS), 4, &n, nil), "clGetKernelInfo(\(kernel.name))")
        var declared: [OpArgumentKind?] = []
        for i in 0..<n {
            var size = 0
            guard clGetKernelArgInfo(k, i, cl_kernel_arg_info(CL_KERNEL_ARG_TYPE_NAME), 0, nil, &size) == CL_SUCCESS else {
                declared.append(nil); continue   // argument info not available: check the count only
            }
            var bytes = [CChar](repeating: 0, count: size + 1)
            clGetKernelArgInfo(k, i, cl_kernel_arg_info(CL_KERNEL_ARG_TYPE_NAME), size, &bytes, nil)
            let type = bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            declared.append(type.hasSuffix("*") ? .buffer : type == "int" ? .int : type == "uint" ? .uint : type == "float" ? .float : nil)
        }
        let expected = kernel.arguments
        guard declared.count == expected.count, zip(declared, expected).allSatisfy({ $0 == nil || $0 == $1 }) else {
            throw GlowError("kernels.cl's \(kernel.name) takes (\(declared.map { $0?.description ?? "?" }.joined(separator: ", "))) "
                + "but KernelSignatures read its declaration as (\(expected.map(\.description).joined(separator: ", ")))")
        }
    }

    // MARK: Launching

    public func enqueue(_ kernel: Kernel, _ args: [OpArgument<OpenCLBuffer>], global: [Int], local: [Int]) throws {
        guard var k = kernels[kernel] else { throw GlowError("opencl: kernel \(kernel.name) missing") }
        if let recording { k = try recordingKernel(recording, kernel) }
        for (i, a) in args.enumerated() {
            let st: cl_int
            switch a {
            case let .buffer(b):
                var m: cl_mem? = b.mem
                st = clSetKernelArg(k, cl_uint(i), MemoryLayout<cl_mem>.size, &m)
                recording?.uses(b)
            case let .int(v): var x = Int32(truncatingIfNeeded: v); st = clSetKernelArg(k, cl_uint(i), 4, &x)
            case let .float(v): var x = v; st = clSetKernelArg(k, cl_uint(i), 4, &x)
            case let .uint(v): var x = v; st = clSetKernelArg(k, cl_uint(i), 4, &x)
            }
            try OpenCLError.check(st, "clSetKernelArg(\(kernel.name), \(i))")
        }
        var g = global, l = local
        if let recording { return try recordKernel(recording, k, kernel.name, global: &g, local: &l) }
        try OpenCLError.check(clEnqueueNDRangeKernel(queue, k, cl_uint(g.count), nil, &g, &l, 0, nil, nil),
                              "clEnqueueNDRangeKernel(\(kernel.name), global \(g), local \(l))")
    }

    // MARK: Buffers

    public func allocate(_ count: Int) throws -> OpenCLBuffer {
        // While recording, memory becomes the recording's (its commands name it).
        let owner = recording?.arena ?? pool
        if let m = recording?.arena.take(count: count) ?? pool.take(count: count) {
            return OpenCLBuffer(mem: m, count: count, pool: owner)
        }
        var st: cl_int = 0
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: 4)
        guard count >= 0, !overflow else { throw GlowError("opencl: cannot allocate \(count) floats: past the largest size") }
        guard let m = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &st),
              st == CL_SUCCESS else {
            throw OpenCLError(st, "clCreateBuffer(\(count) floats = \(max(count, 1) * 4) bytes)")
        }
        return OpenCLBuffer(mem: m, count: count, pool: owner)
    }

    public func count(of buffer: OpenCLBuffer) -> Int { buffer.count }

    public func view(of buffer: OpenCLBuffer, offset: Int, count: Int) throws -> OpenCLBuffer {
        guard offset >= 0, count >= 0, offset + count <= buffer.count, offset % viewAlignment == 0 else {
            throw GlowError("opencl: view of \(count) floats at \(offset) of a buffer of \(buffer.count) "
                + "(offsets must be multiples of \(viewAlignment) floats on \(device.name))")
        }
        let root = buffer.parent ?? buffer
        let base = buffer.parent == nil ? 0 : try subBufferOrigin(buffer)
        var region = cl_buffer_region(origin: (base + offset) * 4, size: max(count, 1) * 4)
        var st: cl_int = 0
        guard let m = clCreateSubBuffer(root.mem, cl_mem_flags(CL_MEM_READ_WRITE), cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION),
                                        &region, &st), st == CL_SUCCESS else {
            throw OpenCLError(st, "clCreateSubBuffer(\(count) floats at \(base + offset))")
        }
        return OpenCLBuffer(mem: m, count: count, pool: nil, parent: root)
    }

    /// A sub-buffer's start in its parent, in floats.
    private func subBufferOrigin(_ b: OpenCLBuffer) throws -> Int {
        var origin = 0
        try OpenCLError.check(clGetMemObjectInfo(b.mem, cl_mem_info(CL_MEM_OFFSET), MemoryLayout<Int>.size, &origin, nil),
                              "clGetMemObjectInfo(CL_MEM_OFFSET)")
        return origin / 4
    }

    /// Enqueues a copy of `bytes` host bytes into `buffer` without waiting: the bytes are
    /// staged in a host copy the queue reads before any later wait returns.
    private func stagedWrite(_ source: UnsafeRawPointer, bytes: Int, to buffer: OpenCLBuffer, offset: Int) throws {
        try checkNotRecording("upload of \(bytes / 4) floats")
        guard let copy = malloc(bytes) else { throw GlowError("opencl: cannot stage an upload of \(bytes) bytes: out of memory") }
        copy.copyMemory(from: source, byteCount: bytes)
        staged.append(copy)
        counters.uploads += 1
        try OpenCLError.check(clEnqueueWriteBuffer(queue, buffer.mem, cl_bool(CL_FALSE), offset * 4, bytes, copy, 0, nil, nil),
                              "clEnqueueWriteBuffer")
    }

    /// Frees the staged upload copies after a wait.
    private func releaseStaged() {
        staged.forEach { free($0) }
        staged.removeAll(keepingCapacity: true)
    }

    public func upload(_ values: [Float], to buffer: OpenCLBuffer, offset: Int) throws {
        if values.isEmpty { return }
        guard offset >= 0, offset + values.count <= buffer.count else {
            throw GlowError("opencl: upload of \(values.count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        try values.withUnsafeBytes { try stagedWrite($0.baseAddress!, bytes: $0.count, to: buffer, offset: offset) }
    }

    public func upload(from source: UnsafePointer<Float>, count: Int, to buffer: OpenCLBuffer, offset: Int) throws {
        if count == 0 { return }
        guard offset >= 0, offset + count <= buffer.count else {
            throw GlowError("opencl: upload of \(count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        try stagedWrite(UnsafeRawPointer(source), bytes: count * 4, to: buffer, offset: offset)
    }

    public func download(_ buffer: OpenCLBuffer, offset: Int, count: Int) throws -> [Float] {
        if count == 0 { return [] }
        guard offset >= 0, offset + count <= buffer.count else {
            throw GlowError("opencl: download of \(count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        try checkNotRecording("download of \(count) floats")
        var out = [Float](repeating: 0, count: count)
        counters.hostWaits += 1; counters.downloads += 1
        try out.withUnsafeMutableBytes { p in
            try OpenCLError.check(clEnqueueReadBuffer(queue, buffer.mem, cl_bool(CL_TRUE), offset * 4, p.count,
                                                      p.baseAddress, 0, nil, nil), "clEnqueueReadBuffer")
        }
        releaseStaged()
        return out
    }

    public func synchronize() throws {
        try checkNotRecording("synchronize")
        counters.hostWaits += 1
        try OpenCLError.check(clFinish(queue), "clFinish")
        releaseStaged()
    }

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: OpenCLBuffer, aOffset: Int, lda: Int, b: OpenCLBuffer, bOffset: Int, ldb: Int,
                     beta: Float, c: OpenCLBuffer, cOffset: Int, ldc: Int) throws {
        try kernelGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, aOffset: aOffset, lda: lda,
                       b: b, bOffset: bOffset, ldb: ldb, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
    }
}
