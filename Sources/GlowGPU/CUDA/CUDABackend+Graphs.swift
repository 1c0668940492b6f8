import CCUDA
import Foundation
import GlowCore

/// What the backend keeps while it captures a step into a CUDA graph (`record`).
final class CUDACapture {
    /// Memory allocated while capturing: its own pool, which never frees while the graph
    /// lives (no limit), so every address the graph holds stays the graph's. A buffer
    /// released during the capture is reused by later allocations of the same capture,
    /// exactly as the stream would reuse it.
    let arena: BufferPool<CUdeviceptr>
    /// Buffers from before the capture that the captured work reads or writes (parameters,
    /// the gradient arena, the step's inputs and record, caches): kept alive by the graph, so
    /// none is freed and handed to other work while the graph may still touch it.
    var kept: [ObjectIdentifier: CUDABuffer] = [:]
    /// Kernel launches and cuBLAS calls captured.
    var operations = 0

    init(arena: BufferPool<CUdeviceptr>) { self.arena = arena }

    /// Notes that the captured work uses `buffer`.
    func uses(_ buffer: CUDABuffer) {
        var root = buffer
        while let p = root.parent { root = p }
        if root.pool !== arena { kept[ObjectIdentifier(buffer)] = buffer }
    }
}

/// A training step captured as a CUDA graph, with the memory its addresses point at. The
/// graph is destroyed, and its memory freed, when the last reference goes.
final class CUDARecordedStep: RecordedWork {
    let exec: CUgraphExec
    let graph: CUgraph
    let operations: Int
    private let capture: CUDACapture
    private let api: GlowCUDADriverAPI
    private let lease: CUDAContextLease
    private let stream: CUstream

    init(exec: CUgraphExec, graph: CUgraph, capture: CUDACapture, api: GlowCUDADriverAPI, lease: CUDAContextLease,
         stream: CUstream) {
        self.exec = exec; self.graph = graph; self.capture = capture; operations = capture.operations
        self.api = api; self.lease = lease; self.stream = stream
    }

    deinit {
        _ = api.cuCtxSetCurrent!(lease.context)
        _ = api.cuStreamSynchronize!(stream)   // a replay may still run; its memory goes next
        _ = api.cuGraphExecDestroy!(exec)
        _ = api.cuGraphDestroy!(graph)
        capture.arena.trim()
    }
}

extension CUDABackend {
    /// CUDA Graphs: the driver has them (CUDA 11.4 on) and `GLOW_CUDA_GRAPHS` is not `0`.
    static func graphsAvailable(_ api: GlowCUDADriverAPI, environment: [String: String]) -> Bool {
        environment["GLOW_CUDA_GRAPHS"] != "0" && api.cuStreamBeginCapture != nil && api.cuStreamEndCapture != nil
            && api.cuGraphInstantiateWithFlags != nil && api.cuGraphLaunch != nil && api.cuGraphExecDestroy != nil
            && api.cuGraphDestroy != nil
    }

    /// Captures what `body` enqueues into a CUDA graph (`cuStreamBeginCapture` in relaxed
    /// mode, so allocations may happen inside), instantiates it and launches it once: the
    /// work runs exactly once, as if enqueued. Allocations inside come from the graph's own
    /// memory; buffers from before it are kept alive with it; cuBLAS works in the
    /// workspace set at start-up, so it allocates nothing while captured. An upload, a
    /// download or a wait inside `body` throws `RecordingUnsupported` (nothing of the
    /// capture ran; the caller enqueues the work again as usual).
    public func record(_ body: () throws -> Void) throws -> RecordedWork? {
        guard recordsWork else { try body(); return nil }
        guard capture == nil else { throw GlowError("cuda: record inside a recording") }
        makeCurrent()
        try setCUBLASWorkspace()
        let api = self.api, lease = self.lease
        let c = CUDACapture(arena: BufferPool<CUdeviceptr>(limitBytes: Int.max, release: { p in
            _ = api.cuCtxSetCurrent!(lease.context)
            _ = api.cuMemFree!(p)
        }))
        try CUDAError.check(api.cuStreamBeginCapture!(stream, Int32(GLOW_CU_STREAM_CAPTURE_MODE_RELAXED)), "cuStreamBeginCapture")
        capture = c
        var graph: CUgraph?
        do {
            try body()
        } catch {
            capture = nil
            if api.cuStreamEndCapture!(stream, &graph) == 0, let graph { _ = api.cuGraphDestroy!(graph) }
            throw error
        }
        capture = nil
        try CUDAError.check(api.cuStreamEndCapture!(stream, &graph), "cuStreamEndCapture")
        guard let graph else { throw GlowError("cuda: cuStreamEndCapture returned no graph") }
        var exec: CUgraphExec?
        let st = api.cuGraphInstantiateWithFlags!(&exec, graph, 0)
        guard st == 0, let exec else {
            _ = api.cuGraphDestroy!(graph)
            throw CUDAError.driver(st, "cuGraphInstantiateWithFlags(a step of \(c.operations) operations)")
        }
        let step = CUDARecordedStep(exec: exec, graph: graph, capture: c, api: api, lease: lease, stream: stream)
        try replay(step)
        return step
    }

    /// Launches a recorded step's graph on the stream (no wait).
    public func replay(_ work: RecordedWork) throws {
        guard let step = work as? CUDARecordedStep else { throw GlowError("cuda: replay of work recorded by another backend") }
        guard capture == nil else { throw RecordingUnsupported("a graph launch") }
        makeCurrent()
        try CUDAError.check(api.cuGraphLaunch!(step.exec, stream), "cuGraphLaunch(a step of \(step.operations) operations)")
        counters.graphLaunches += 1
    }

    /// Gives cuBLAS a fixed workspace (32 MiB, what NVIDIA advises for Hopper) once, before
    /// the first capture, where cuBLAS has `cublasSetWorkspace`.
    func setCUBLASWorkspace() throws {
        guard cublasWorkspace == nil, let set = blas.cublasSetWorkspace else { return }
        let w = try allocate(8 << 20)
        try CUDAError.checkBLAS(set(handle, UnsafeMutableRawPointer(bitPattern: UInt(w.pointer)), w.count * 4),
                                "cublasSetWorkspace(32 MiB)")
        cublasWorkspace = w
    }

    /// Throws when the host would wait or copy inside a capture.
    func checkNotCapturing(_ call: @autoclosure () -> String) throws {
        if capture != nil { throw RecordingUnsupported(call()) }
    }
}
