import COpenCL
import Foundation
import GlowCore

/// cl_khr_command_buffer's entry points, from the platform (nil members: not offered).
struct OpenCLCommandBufferAPI {
    let create: glow_clCreateCommandBufferKHR
    let ndRange: glow_clCommandNDRangeKernelKHR
    let finalize: glow_clFinalizeCommandBufferKHR
    let enqueue: glow_clEnqueueCommandBufferKHR
    let release: glow_clReleaseCommandBufferKHR

    /// The entry points when `device` reports cl_khr_command_buffer and its platform has them
    /// all, and `GLOW_CL_COMMAND_BUFFERS` is not `0`; nil otherwise.
    init?(device: OpenCLDeviceInfo, environment: [String: String]) {
        guard environment["GLOW_CL_COMMAND_BUFFERS"] != "0",
              OpenCLCommandBufferAPI.extensions(device.deviceID).contains("cl_khr_command_buffer") else { return nil }
        func f<T>(_ name: String, _: T.Type) -> T? {
            clGetExtensionFunctionAddressForPlatform(device.platformID, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let c = f("clCreateCommandBufferKHR", glow_clCreateCommandBufferKHR.self),
              let n = f("clCommandNDRangeKernelKHR", glow_clCommandNDRangeKernelKHR.self),
              let fin = f("clFinalizeCommandBufferKHR", glow_clFinalizeCommandBufferKHR.self),
              let e = f("clEnqueueCommandBufferKHR", glow_clEnqueueCommandBufferKHR.self),
              let r = f("clReleaseCommandBufferKHR", glow_clReleaseCommandBufferKHR.self) else { return nil }
        create = c; ndRange = n; finalize = fin; enqueue = e; release = r
    }

    /// The device's extension names.
    static func extensions(_ device: cl_device_id) -> Set<String> {
        var size = 0
        guard clGetDeviceInfo(device, cl_device_info(CL_DEVICE_EXTENSIONS), 0, nil, &size) == CL_SUCCESS, size > 0 else { return [] }
        var bytes = [CChar](repeating: 0, count: size)
        guard clGetDeviceInfo(device, cl_device_info(CL_DEVICE_EXTENSIONS), size, &bytes, nil) == CL_SUCCESS else { return [] }
        return Set(String(cString: bytes).split(separator: " ").map(String.init))
    }
}

/// A step being recorded into a command buffer (`OpenCLBackend.record`).
final class OpenCLRecording {
    let commandBuffer: glow_cl_command_buffer
    /// Memory allocated while recording: its own pool, which releases nothing while the
    /// command buffer lives, so every buffer a command names stays the command's.
    let arena: BufferPool<cl_mem>
    /// Buffers from before the recording, and every sub-buffer, the commands name: kept
    /// alive with the command buffer.
    var kept: [ObjectIdentifier: OpenCLBuffer] = [:]
    /// The last command's sync point: each command waits for the one before it, so the
    /// buffer runs in order whatever the implementation's default.
    var last: cl_uint?
    var operations = 0
    /// One kernel object per recorded command, holding that command's arguments (PoCL 3.1
    /// crashes running a command buffer that records one kernel object twice with
    /// different arguments), released with the command buffer.
    var kernels: [cl_kernel] = []

    init(commandBuffer: glow_cl_command_buffer, arena: BufferPool<cl_mem>) {
        self.commandBuffer = commandBuffer; self.arena = arena
    }

    func uses(_ buffer: OpenCLBuffer) {
        if buffer.parent != nil || buffer.pool !== arena { kept[ObjectIdentifier(buffer)] = buffer }
    }
}

/// A training step recorded as an OpenCL command buffer, with the memory it names.
final class OpenCLRecordedStep: RecordedWork {
    let recording: OpenCLRecording
    let operations: Int
    private let api: OpenCLCommandBufferAPI
    private let queue: cl_command_queue
    init(_ recording: OpenCLRecording, api: OpenCLCommandBufferAPI, queue: cl_command_queue) {
        self.recording = recording; operations = recording.operations; self.api = api; self.queue = queue
    }
    deinit {
        clFinish(queue)
        _ = api.release(recording.commandBuffer)
        recording.kernels.forEach { clReleaseKernel($0) }
        recording.kept.removeAll()
        recording.arena.trim()
    }
}

extension OpenCLDeviceInfo {
    /// True when OpenCL device `device` (an index of `all()`) reports cl_khr_command_buffer
    /// and its platform provides the entry points, so that `OpenCLBackend.record` records
    /// (unless `GLOW_CL_COMMAND_BUFFERS=0`).
    public static func commandBuffersOffered(device: Int) -> Bool {
        guard let all = try? all(), device < all.count else { return false }
        return OpenCLCommandBufferAPI(device: all[device], environment: ProcessInfo.processInfo.environment) != nil
    }
}

extension OpenCLBackend {
    /// Records what `body` enqueues into a cl_khr_command_buffer, finalises it and enqueues
    /// it once (the work runs exactly once, as if enqueued). As for CUDA graphs, memory
    /// allocated inside is the recording's and buffers from before are kept alive with it;
    /// an upload, a download or a wait inside `body` throws `RecordingUnsupported`.
    public func record(_ body: () throws -> Void) throws -> RecordedWork? {
        guard let api = commandBuffers else { try body(); return nil }
        guard recording == nil else { throw GlowError("opencl: record inside a recording") }
        var st: cl_int = 0
        var q: cl_command_queue? = queue
        guard let cb = api.create(1, &q, nil, &st), st == CL_SUCCESS else {
            throw OpenCLError(st, "clCreateCommandBufferKHR")
        }
        let r = OpenCLRecording(commandBuffer: cb, arena: BufferPool<cl_mem>(limitBytes: Int.max, release: { clReleaseMemObject($0) }))
        recording = r
        do {
            try body()
        } catch {
            recording = nil
            _ = api.release(cb)
            r.kernels.forEach { clReleaseKernel($0) }
            throw error
        }
        recording = nil
        let step = OpenCLRecordedStep(r, api: api, queue: queue)
        try OpenCLError.check(api.finalize(cb), "clFinalizeCommandBufferKHR(a step of \(r.operations) kernels)")
        try replay(step)
        return step
    }

    /// Enqueues a recorded step's command buffer (no wait).
    public func replay(_ work: RecordedWork) throws {
        guard let step = work as? OpenCLRecordedStep, let api = commandBuffers else {
            throw GlowError("opencl: replay of work recorded by another backend")
        }
        guard recording == nil else { throw RecordingUnsupported("a command-buffer launch") }
        var q: cl_command_queue? = queue
        var st = api.enqueue(1, &q, step.recording.commandBuffer, 0, nil, nil)
        if st == CL_INVALID_OPERATION {
            // Still pending from the last replay (PoCL marks it done a moment after its last
            // command; a buffer without simultaneous use may not be enqueued twice): wait, retry.
            counters.hostWaits += 1
            clFinish(queue)
            st = api.enqueue(1, &q, step.recording.commandBuffer, 0, nil, nil)
        }
        try OpenCLError.check(st, "clEnqueueCommandBufferKHR(a step of \(step.operations) kernels)")
        counters.graphLaunches += 1
    }

    /// A new kernel object for one recorded command (see `OpenCLRecording.kernels`).
    func recordingKernel(_ r: OpenCLRecording, _ kernel: Kernel) throws -> cl_kernel {
        var st: cl_int = 0
        guard let k = clCreateKernel(program, kernel.name, &st), st == CL_SUCCESS else {
            throw OpenCLError(st, "clCreateKernel(\(kernel.name)) for a recorded command")
        }
        r.kernels.append(k)
        return k
    }

    /// Records `kernel` (its arguments already set) into the command buffer being recorded.
    func recordKernel(_ r: OpenCLRecording, _ k: cl_kernel, _ name: String, global: inout [Int], local: inout [Int]) throws {
        guard let api = commandBuffers else { return }
        var point: cl_uint = 0
        let wait = r.last.map { [$0] } ?? []
        let st = wait.withUnsafeBufferPointer { w in
            api.ndRange(r.commandBuffer, nil, nil, k, cl_uint(global.count), nil, &global, &local,
                        cl_uint(w.count), w.count == 0 ? nil : w.baseAddress, &point, nil)
        }
        try OpenCLError.check(st, "clCommandNDRangeKernelKHR(\(name), global \(global), local \(local))")
        r.last = point
        r.operations += 1
    }

    /// Throws when the host would wait or copy inside a recording.
    func checkNotRecording(_ call: @autoclosure () -> String) throws {
        if recording != nil { throw RecordingUnsupported(call()) }
    }
}
