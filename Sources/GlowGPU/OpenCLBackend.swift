import COpenCL
import Foundation
import GlowCore
import Kernels

/// Device memory owned by an `OpenCLBackend`.
public final class OpenCLBuffer {
    let mem: cl_mem
    /// Floats held.
    public let count: Int
    let pool: BufferPool<cl_mem>
    init(mem: cl_mem, count: Int, pool: BufferPool<cl_mem>) { self.mem = mem; self.count = count; self.pool = pool }
    deinit { pool.give(mem, count: count) }
}

/// The OpenCL backend: kernels.cl built once per device (with `-D` tuning constants), every
/// kernel created at start-up, all work queued in order on one queue and synchronised only
/// where the host needs a result.
public final class OpenCLBackend: Backend {
    public typealias Buffer = OpenCLBuffer

    /// The device this backend runs on.
    public let device: OpenCLDeviceInfo
    /// The options the program was built with.
    public let buildOptions: String
    /// Seconds spent building (or loading) the program at start-up.
    public private(set) var buildSeconds: Double = 0
    let context: cl_context
    let queue: cl_command_queue
    let program: cl_program
    private var kernels: [String: cl_kernel] = [:]
    /// Released device buffers, reused by size (see `BufferPool`).
    let pool = BufferPool<cl_mem>(release: { clReleaseMemObject($0) })
    private var built = false

    /// Every kernel kernels.cl must define; a missing one fails at start-up.
    static let kernelNames = [
        "pack_panels", "gemm_packed", "im2col3x3", "col2im3x3", "channel_affine", "unary_op", "binary_op",
        "squeeze2", "affine_coupling", "gaussian_log_density", "gaussian_sample", "fill_value", "copy_2d",
        "row_sums", "sample_sums", "philox_fill", "scale_shift", "affine_coupling_backward", "gaussian_backward",
        "adam_update", "copy_strided", "row_scale", "row_dots",
    ]

    /// Opens `device`, building kernels.cl for it.
    public init(device: OpenCLDeviceInfo, tuning: [String: Int] = [:]) throws {
        self.device = device
        // GLOW_CL_TUNING="GEMM_LOCAL=2" overrides tuning constants (passed as -D too), for tuning runs.
        var tuning = tuning
        for item in (ProcessInfo.processInfo.environment["GLOW_CL_TUNING"] ?? "").split(separator: ",") {
            let kv = item.split(separator: "=")
            if kv.count == 2, let v = Int(kv[1]) { tuning[String(kv[0])] = v }
        }
        gemmLocal = tuning["GEMM_LOCAL"] ?? 1
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
        buildOptions = (["-cl-mad-enable"] + tuning.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" })
            .joined(separator: " ")
        let t0 = Date()
        var src: UnsafePointer<CChar>? = UnsafeRawPointer(glow_kernels_source_ptr()).assumingMemoryBound(to: CChar.self)
        var len = glow_kernels_source_length
        guard let prog = clCreateProgramWithSource(ctx, 1, &src, &len, &st), st == CL_SUCCESS else {
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
        for name in OpenCLBackend.kernelNames {
            guard let k = clCreateKernel(prog, name, &st), st == CL_SUCCESS else {
                throw OpenCLError(st, "clCreateKernel(\(name))")
            }
            kernels[name] = k
        }
    }

    deinit {
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

    // MARK: Launching

    enum Arg {
        case mem(OpenCLBuffer), int(Int), float(Float), uint(UInt32)
    }

    private func launch(_ name: String, _ args: [Arg], global: [Int], local: [Int]) throws {
        guard let k = kernels[name] else { throw GlowError("opencl: kernel \(name) missing") }
        for (i, a) in args.enumerated() {
            let st: cl_int
            switch a {
            case let .mem(b): var m: cl_mem? = b.mem; st = clSetKernelArg(k, cl_uint(i), MemoryLayout<cl_mem>.size, &m)
            case let .int(v):
                guard let v32 = Int32(exactly: v) else { throw GlowError("opencl: \(name) argument \(i) = \(v) exceeds 32 bits") }
                var x = v32; st = clSetKernelArg(k, cl_uint(i), 4, &x)
            case let .float(v): var x = v; st = clSetKernelArg(k, cl_uint(i), 4, &x)
            case let .uint(v): var x = v; st = clSetKernelArg(k, cl_uint(i), 4, &x)
            }
            try OpenCLError.check(st, "clSetKernelArg(\(name), \(i))")
        }
        // Round the global size up to the local size; kernels guard their bounds.
        var g = zip(global, local).map { (($0 + $1 - 1) / $1) * $1 }
        var l = local
        if g.contains(0) { return }
        try OpenCLError.check(clEnqueueNDRangeKernel(queue, k, cl_uint(g.count), nil, &g, &l, 0, nil, nil),
                              "clEnqueueNDRangeKernel(\(name), global \(g), local \(l))")
    }

    /// 1-D elementwise launch over `total` items.
    private func elementwise(_ name: String, _ args: [Arg], total: Int) throws {
        try launch(name, args, global: [total], local: [256])
    }

    // MARK: Buffers

    public func allocate(_ count: Int) throws -> OpenCLBuffer {
        if let m = pool.take(count: count) { return OpenCLBuffer(mem: m, count: count, pool: pool) }
        var st: cl_int = 0
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: 4)
        guard count >= 0, !overflow else { throw GlowError("opencl: cannot allocate \(count) floats: past the largest size") }
        guard let m = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &st),
              st == CL_SUCCESS else {
            throw OpenCLError(st, "clCreateBuffer(\(count) floats = \(max(count, 1) * 4) bytes)")
        }
        return OpenCLBuffer(mem: m, count: count, pool: pool)
    }

    public func count(of buffer: OpenCLBuffer) -> Int { buffer.count }

    public func upload(_ values: [Float], to buffer: OpenCLBuffer, offset: Int) throws {
        if values.isEmpty { return }
        guard offset >= 0, offset + values.count <= buffer.count else {
            throw GlowError("opencl: upload of \(values.count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        try values.withUnsafeBytes { p in
            try OpenCLError.check(clEnqueueWriteBuffer(queue, buffer.mem, cl_bool(CL_TRUE), offset * 4, p.count,
                                                       p.baseAddress, 0, nil, nil), "clEnqueueWriteBuffer")
        }
    }

    public func download(_ buffer: OpenCLBuffer, offset: Int, count: Int) throws -> [Float] {
        if count == 0 { return [] }
        guard offset >= 0, offset + count <= buffer.count else {
            throw GlowError("opencl: download of \(count) floats at \(offset) past a buffer of \(buffer.count)")
        }
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { p in
            try OpenCLError.check(clEnqueueReadBuffer(queue, buffer.mem, cl_bool(CL_TRUE), offset * 4, p.count,
                                                      p.baseAddress, 0, nil, nil), "clEnqueueReadBuffer")
        }
        return out
    }

    public func fill(_ buffer: OpenCLBuffer, offset: Int, count: Int, value: Float) throws {
        try elementwise("fill_value", [.mem(buffer), .int(offset), .float(value), .int(count)], total: count)
    }

    public func copy2D(_ src: OpenCLBuffer, srcOffset: Int, srcStride: Int, _ dst: OpenCLBuffer, dstOffset: Int,
                       dstStride: Int, rows: Int, cols: Int) throws {
        try launch("copy_2d", [.mem(src), .int(srcOffset), .int(srcStride), .mem(dst), .int(dstOffset),
                               .int(dstStride), .int(cols)], global: [cols, rows], local: [64, 1])
    }

    public func copyStrided(_ src: OpenCLBuffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int,
                            _ dst: OpenCLBuffer, dstOffset: Int, dstRowStride: Int, dstColStride: Int,
                            rows: Int, cols: Int) throws {
        try launch("copy_strided", [.mem(src), .int(srcOffset), .int(srcRowStride), .int(srcColStride), .mem(dst),
                                    .int(dstOffset), .int(dstRowStride), .int(dstColStride), .int(cols)],
                   global: [cols, rows], local: [16, 1])
    }

    public func synchronize() throws {
        try OpenCLError.check(clFinish(queue), "clFinish")
    }

    // MARK: Compute

    /// Work-group size along the row tiles of `gemm_packed` (1 measured best on PoCL).
    let gemmLocal: Int

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: OpenCLBuffer, aOffset: Int, lda: Int, b: OpenCLBuffer, bOffset: Int, ldb: Int,
                     beta: Float, c: OpenCLBuffer, cOffset: Int, ldc: Int) throws {
        if m == 0 || n == 0 { return }
        if k == 0 {   // C = beta · C
            for r in 0..<m { try scale(c, xOffset: cOffset + r * ldc, alpha: beta, beta: 0, y: c, yOffset: cOffset + r * ldc, count: n) }
            return
        }
        // Pack op(B) into contiguous 64-column panels, then one register-tiled pass; the
        // panels come from the pool, so a steady-state step allocates nothing.
        let panelCount = (n + 63) / 64
        let panels = try allocate(panelCount * 64 * k)
        try launch("pack_panels", [.mem(b), .int(bOffset), .int(ldb), .int(transB ? 1 : 0), .int(k), .int(n), .mem(panels)],
                   global: [k, panelCount], local: [16, 1])
        try launch("gemm_packed", [.int(m), .int(n), .int(k), .float(alpha), .mem(a), .int(aOffset),
                                   .int(transA ? 1 : lda), .int(transA ? lda : 1), .mem(panels),
                                   .float(beta), .mem(c), .int(cOffset), .int(ldc)],
                   global: [(m + 3) / 4, panelCount], local: [gemmLocal, 1])
    }

    public func im2col3x3(_ x: OpenCLBuffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int,
                          columns: OpenCLBuffer) throws {
        try launch("im2col3x3", [.mem(x), .int(xOffset), .int(images), .int(height), .int(width), .mem(columns)],
                   global: [images * height * width, channels * 9], local: [64, 1])
    }

    public func col2im3x3(_ columns: OpenCLBuffer, channels: Int, images: Int, height: Int, width: Int,
                          x: OpenCLBuffer, xOffset: Int) throws {
        try launch("col2im3x3", [.mem(columns), .int(images), .int(height), .int(width), .mem(x), .int(xOffset)],
                   global: [images * height * width, channels], local: [64, 1])
    }

    public func channelAffine(_ x: OpenCLBuffer, xOffset: Int, rows: Int, cols: Int, bias: OpenCLBuffer,
                              logs: OpenCLBuffer, factor: Float, reverse: Bool, relu: Bool, y: OpenCLBuffer,
                              yOffset: Int) throws {
        let scale = try allocate(rows)
        try launch("row_scale", [.mem(logs), .float(reverse ? -factor : factor), .mem(scale), .int(rows)],
                   global: [rows], local: [16])
        try launch("channel_affine", [.mem(x), .int(xOffset), .int(cols), .mem(bias), .mem(scale),
                                      .int(reverse ? 1 : 0), .int(relu ? 1 : 0), .mem(y), .int(yOffset)],
                   global: [cols, rows], local: [256, 1])
    }

    public func unary(_ op: UnaryOp, _ x: OpenCLBuffer, xOffset: Int, y: OpenCLBuffer, yOffset: Int, count: Int) throws {
        try elementwise("unary_op", [.int(Int(op.rawValue)), .mem(x), .int(xOffset), .mem(y), .int(yOffset), .int(count)],
                        total: count)
    }

    public func binary(_ op: BinaryOp, _ a: OpenCLBuffer, aOffset: Int, _ b: OpenCLBuffer, bOffset: Int,
                       y: OpenCLBuffer, yOffset: Int, count: Int) throws {
        try elementwise("binary_op", [.int(Int(op.rawValue)), .mem(a), .int(aOffset), .mem(b), .int(bOffset),
                                      .mem(y), .int(yOffset), .int(count)], total: count)
    }

    public func rowSums(_ x: OpenCLBuffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: OpenCLBuffer) throws {
        try launch("row_sums", [.mem(x), .int(xOffset), .int(rows), .int(cols), .int(squares ? 1 : 0), .mem(out)],
                   global: [rows], local: [1])
    }

    public func rowDots(_ a: OpenCLBuffer, _ b: OpenCLBuffer, rows: Int, cols: Int, out: OpenCLBuffer) throws {
        try launch("row_dots", [.mem(a), .mem(b), .int(rows), .int(cols), .mem(out)], global: [rows], local: [1])
    }

    public func sampleSums(_ x: OpenCLBuffer, xOffset: Int, rows: Int, images: Int, spatial: Int,
                           out: OpenCLBuffer, accumulate: Bool) throws {
        try launch("sample_sums", [.mem(x), .int(xOffset), .int(rows), .int(images), .int(spatial), .mem(out),
                                   .int(accumulate ? 1 : 0)], global: [images], local: [1])
    }

    public func squeeze(_ x: OpenCLBuffer, y: OpenCLBuffer, channels: Int, images: Int, height: Int, width: Int,
                        inverse: Bool) throws {
        let total = channels * images * height * width
        try elementwise("squeeze2", [.mem(x), .mem(y), .int(images), .int(height), .int(width), .int(inverse ? 1 : 0),
                                     .int(total)], total: total)
    }

    public func affineCoupling(_ x: OpenCLBuffer, h: OpenCLBuffer, half: Int, cols: Int, reverse: Bool,
                               y: OpenCLBuffer, logScale: OpenCLBuffer) throws {
        try copy2D(x, srcOffset: 0, srcStride: half * cols, y, dstOffset: 0, dstStride: half * cols, rows: 1, cols: half * cols)
        try elementwise("affine_coupling", [.mem(x), .mem(h), .int(half), .int(cols), .int(reverse ? 1 : 0), .mem(y),
                                            .mem(logScale), .int(half * cols)], total: half * cols)
    }

    public func gaussianLogDensity(_ z: OpenCLBuffer, zOffset: Int, h: OpenCLBuffer, meanOffset: Int, logsOffset: Int,
                                   rowStride: Int, rows: Int, cols: Int, out: OpenCLBuffer) throws {
        try elementwise("gaussian_log_density", [.mem(z), .int(zOffset), .mem(h), .int(meanOffset), .int(logsOffset),
                                                 .int(rowStride), .int(cols), .mem(out), .int(rows * cols)],
                        total: rows * cols)
    }

    public func gaussianSample(_ eps: OpenCLBuffer, h: OpenCLBuffer, meanOffset: Int, logsOffset: Int, rowStride: Int,
                               rows: Int, cols: Int, temperature: Float, z: OpenCLBuffer, zOffset: Int) throws {
        try elementwise("gaussian_sample", [.mem(eps), .mem(h), .int(meanOffset), .int(logsOffset), .int(rowStride),
                                            .int(cols), .float(temperature), .mem(z), .int(zOffset), .int(rows * cols)],
                        total: rows * cols)
    }

    public func scale(_ x: OpenCLBuffer, xOffset: Int, alpha: Float, beta: Float, y: OpenCLBuffer, yOffset: Int,
                      count: Int) throws {
        try elementwise("scale_shift", [.mem(x), .int(xOffset), .float(alpha), .float(beta), .mem(y), .int(yOffset),
                                        .int(count)], total: count)
    }

    public func affineCouplingBackward(_ x: OpenCLBuffer, h: OpenCLBuffer, dy: OpenCLBuffer, half: Int, cols: Int,
                                       logdetGrad: Float, dx: OpenCLBuffer, dh: OpenCLBuffer) throws {
        try elementwise("affine_coupling_backward", [.mem(x), .mem(h), .mem(dy), .int(half), .int(cols), .float(logdetGrad),
                                                     .mem(dx), .mem(dh), .int(half * cols)], total: half * cols)
    }

    public func gaussianBackward(_ z: OpenCLBuffer, zOffset: Int, h: OpenCLBuffer, meanOffset: Int, logsOffset: Int,
                                 rowStride: Int, rows: Int, cols: Int, scale: Float, dz: OpenCLBuffer, dzOffset: Int,
                                 dh: OpenCLBuffer) throws {
        try elementwise("gaussian_backward", [.mem(z), .int(zOffset), .mem(h), .int(meanOffset), .int(logsOffset),
                                              .int(rowStride), .int(cols), .float(scale), .mem(dz), .int(dzOffset), .mem(dh),
                                              .int(rows * cols)], total: rows * cols)
    }

    public func adamUpdate(_ parameter: OpenCLBuffer, gradient: OpenCLBuffer, m: OpenCLBuffer, v: OpenCLBuffer, count: Int,
                           learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, correction1: Float,
                           correction2: Float, gradScale: Float, adamax: Bool) throws {
        try elementwise("adam_update", [.mem(parameter), .mem(gradient), .mem(m), .mem(v), .float(learningRate),
                                        .float(beta1), .float(beta2), .float(epsilon), .float(correction1),
                                        .float(correction2), .float(gradScale), .int(adamax ? 1 : 0), .int(count)],
                        total: count)
    }

    public func random(_ buffer: OpenCLBuffer, offset: Int, count: Int, distribution: RandomDistribution,
                       seed: UInt64, stream: UInt64) throws {
        var normal = 1, low: Float = 0, high: Float = 1
        if case let .uniform(l, h) = distribution { normal = 0; low = l; high = h }
        try elementwise("philox_fill", [.mem(buffer), .int(offset), .int(count),
                                        .uint(UInt32(truncatingIfNeeded: seed)), .uint(UInt32(truncatingIfNeeded: seed >> 32)),
                                        .uint(UInt32(truncatingIfNeeded: stream)), .uint(UInt32(truncatingIfNeeded: stream >> 32)),
                                        .int(normal), .float(low), .float(high)], total: (count + 3) / 4)
    }
}
