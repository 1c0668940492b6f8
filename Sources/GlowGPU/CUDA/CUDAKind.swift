import Foundation
import GlowCore

/// CUDA (driver API, NVRTC and cuBLAS loaded at run time) as a `BackendKind`.
public struct CUDAKind: BackendKind {
    /// Creates the kind.
    public init() {}
    public var name: String { "cuda" }
    public var specForms: [String] { [name, name + ":N"] }
    public var autoRank: Int { 0 }
    public var autoDescription: String { "a CUDA device if usable" }

    /// `cuda` (device `localRank` modulo the count, the first alone) or `cuda:N`.
    public func open(spec: String, original: String, precision: GEMMPrecision, placement: Placement) throws -> (any Backend)? {
        if spec == name {
            let devices = try usable(original)
            return try open(original, devices, index: devices.isEmpty ? 0 : placement.localRank % devices.count, precision: precision)
        }
        guard spec.hasPrefix(name + ":") else { return nil }
        guard let n = Int(spec.dropFirst(name.count + 1)), n >= 0 else {
            throw GlowError.invalid(.device, value: "\(original)", expected: "expected \(name):N with N a device number (see `glow-gpu devices`)")
        }
        return try open(original, try usable(original), index: n, precision: precision)
    }

    /// A usable CUDA device, when there is one. Alone, a device that fails to open is
    /// reported and `auto` moves on; one of several ranks fails instead.
    public func openAuto(precision: GEMMPrecision, placement: Placement) throws -> (any Backend)? {
        guard let devices = try? CUDADeviceInfo.usable(), !devices.isEmpty else { return nil }
        let d = devices[placement.localRank % devices.count]
        if placement.localSize > 1 { return try CUDABackend(device: d, precision: precision) }
        do { return try CUDABackend(device: d, precision: precision) } catch {
            FileHandle.standardError.write(Data("--device auto: \(d.name) found but CUDA failed: \(error); trying OpenCL\n".utf8))
            return nil
        }
    }

    public func open(nameContaining fragment: String, precision: GEMMPrecision) throws -> (any Backend)? {
        guard let d = (try? CUDADeviceInfo.usable())?.first(where: { $0.name.lowercased().contains(fragment) }) else { return nil }
        return try CUDABackend(device: d, precision: precision)
    }

    public func deviceNames() -> [String] { ((try? CUDADeviceInfo.usable()) ?? []).map(\.name) }

    private func usable(_ original: String) throws -> [CUDADeviceInfo] {
        do { return try CUDADeviceInfo.usable() } catch { throw GlowError.invalid(.device, value: "\(original)", expected: "\(error)") }
    }

    private func open(_ original: String, _ devices: [CUDADeviceInfo], index n: Int, precision: GEMMPrecision) throws -> CUDABackend {
        guard devices.indices.contains(n) else {
            throw GlowError.invalid(.device, value: "\(original)", expected: "there are \(devices.count) CUDA devices (0…\(devices.count - 1)); see `glow-gpu devices`")
        }
        return try CUDABackend(device: devices[n], precision: precision)
    }

    /// The CUDA devices with the driver's, NVRTC's and cuBLAS's versions, or one line saying
    /// why CUDA cannot be used; then what the loader loaded, skipped or failed on.
    public func report(check: Bool) -> [String] {
        var lines: [String] = []
        var loaderReport: [String] { CUDALibraries.report.split(separator: "\n").map { "           loader \($0)" } }
        let devices: [CUDADeviceInfo]
        do { devices = try CUDADeviceInfo.usable() } catch {
            // The reason, then what was found of the compiler and BLAS (e.g. NVRTC without a driver).
            let reason = (error as? CUDAError)?.source == .unavailable ? (error as! CUDAError).call : "\(error)"
            let nvrtc = (try? CUDALibraries.nvrtcVersion()).map { "NVRTC \($0) (\(CUDALibraries.paths.nvrtc))" } ?? "no NVRTC"
            let cublas = (try? CUDALibraries.cublasVersion()).map { "cuBLAS \($0) (\(CUDALibraries.paths.cublas))" } ?? "no cuBLAS"
            return ["cuda       unavailable: \(reason) [found: \(nvrtc), \(cublas)]"] + loaderReport
        }
        let paths = CUDALibraries.paths
        let versions = "driver CUDA \((try? CUDALibraries.driverVersion()) ?? "?"), NVRTC \((try? CUDALibraries.nvrtcVersion()) ?? "?") "
            + "(\(paths.nvrtc)), cuBLAS \((try? CUDALibraries.cublasVersion()) ?? "?") (\(paths.cublas))"
        for d in devices {
            lines.append("cuda:\(d.index)     \(d.name)")
            lines.append("           compute capability \(d.major).\(d.minor) (\(d.architecture)), \(d.multiprocessors) multiprocessors, "
                + "\(d.memory >> 20) MiB memory")
            lines.append("           \(versions)")
            do {
                let t = try CUDABackend.defaultTuning(for: d)
                lines.append("           kernels: \(t.variant) variant, " + t.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: " ") + "; GEMM and 3×3 convolutions by cuBLAS")
            } catch {
                lines.append("           kernels: \(error)")
            }
            if check {
                do {
                    let b = try CUDABackend(device: d)
                    lines.append("           training steps: " + (b.recordsWork ? "captured once as a CUDA graph and replayed; "
                        + "GLOW_CUDA_GRAPHS=0 turns it off" : "enqueued launch by launch (no CUDA Graphs in this driver, "
                        + "or GLOW_CUDA_GRAPHS=0)"))
                    lines.append("           memory: \((b.deviceMemory?.free ?? 0) >> 20) MiB free now; the buffer pool keeps up to "
                        + "\(b.poolLimitBytes >> 20) MiB of released buffers")
                    lines.append(String(format: "           kernels.cl compiled by NVRTC in %.3f s (%@), %@", b.buildSeconds,
                                        b.moduleFromCache ? "from the cache" : "compiled", b.compileOptions.joined(separator: " ")))
                } catch {
                    lines.append("           kernels.cl failed to build: \(error)")
                }
            }
        }
        return lines + loaderReport
    }
}
