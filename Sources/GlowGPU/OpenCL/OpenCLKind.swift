import Foundation
import GlowCore

/// OpenCL (any ICD: a GPU driver's, or PoCL on the CPU) as a `BackendKind`.
public struct OpenCLKind: BackendKind {
    /// Creates the kind.
    public init() {}
    public var name: String { "opencl" }
    /// `gpu` is strict, unlike `opencl`: a GPU check must not quietly run on PoCL's CPU device.
    public var specForms: [String] { [name, name + ":N", "gpu"] }
    public var autoRank: Int { 1 }
    public var autoDescription: String { "an OpenCL GPU or accelerator" }

    /// `opencl` (or `cl`): the first GPU or accelerator, else the first device (device
    /// `localRank` modulo the count among several ranks); `gpu`: likewise, but only a GPU or
    /// accelerator; `opencl:N`: device N.
    public func open(spec: String, original: String, precision: GEMMPrecision, placement: Placement) throws -> (any Backend)? {
        switch spec {
        case name, "cl":
            let all = try OpenCLDeviceInfo.all()
            let gpus = all.filter(\.isAccelerator)
            let pool = gpus.isEmpty ? all : gpus
            guard !pool.isEmpty else { throw noDevice(original) }
            return try OpenCLBackend(device: pool[placement.localRank % pool.count])
        case "gpu":
            let all = try OpenCLDeviceInfo.all()
            let gpus = all.filter(\.isAccelerator)
            guard !gpus.isEmpty else {
                throw GlowError("\(Setting.device) \(original): no OpenCL GPU or accelerator found"
                    + (all.isEmpty ? " (no OpenCL device at all)" : " (devices: \(all.map { "\($0.name) [\($0.type)]" }.joined(separator: ", ")))")
                    + "; see `glow-gpu devices`")
            }
            return try OpenCLBackend(device: gpus[placement.localRank % gpus.count])
        case let s where s.hasPrefix(name + ":"):
            guard let n = Int(s.dropFirst(name.count + 1)) else {
                throw GlowError.invalid(.device, value: "\(original)", expected: "expected \(name):N with N a device number (see `glow-gpu devices`)")
            }
            let all = try OpenCLDeviceInfo.all()
            if all.isEmpty { throw noDevice(original) }
            guard all.indices.contains(n) else {
                throw GlowError.invalid(.device, value: "\(original)", expected: "there are \(all.count) OpenCL devices (0…\(all.count - 1)); see `glow-gpu devices`")
            }
            return try OpenCLBackend(device: all[n])
        default:
            return nil
        }
    }

    /// An OpenCL GPU or accelerator, when there is one (never PoCL's CPU device).
    public func openAuto(precision: GEMMPrecision, placement: Placement) throws -> (any Backend)? {
        let gpus = ((try? OpenCLDeviceInfo.all()) ?? []).filter(\.isAccelerator)
        return gpus.isEmpty ? nil : try OpenCLBackend(device: gpus[placement.localRank % gpus.count])
    }

    public func open(nameContaining fragment: String, precision: GEMMPrecision) throws -> (any Backend)? {
        guard let d = try OpenCLDeviceInfo.all().first(where: {
            $0.name.lowercased().contains(fragment) || $0.platform.lowercased().contains(fragment)
        }) else { return nil }
        return try OpenCLBackend(device: d)
    }

    public func deviceNames() -> [String] { ((try? OpenCLDeviceInfo.all()) ?? []).map(\.name) }

    func noDevice(_ original: String) -> GlowError {
        GlowError("\(Setting.device) \(original): no OpenCL device found. The ICD loader found no platform; install one "
            + "(Debian: `apt-get install pocl-opencl-icd` for the CPU, or a GPU driver's ICD), or use \(Setting.device) cpu")
    }

    /// Every OpenCL platform's devices: type, memory, versions, whether training steps are
    /// recorded, the kernel variant and tunables; with `check`, the build time of kernels.cl.
    public func report(check: Bool) -> [String] {
        let devices: [OpenCLDeviceInfo]
        do { devices = try OpenCLDeviceInfo.all() } catch { return ["OpenCL: \(error)"] }
        if devices.isEmpty { return ["OpenCL: no platform found (the ICD loader reports none); only --device cpu is available"] }
        var lines: [String] = []
        for d in devices {
            lines.append("opencl:\(d.index)   \(d.name)")
            lines.append("           platform \(d.platform), type \(d.type), \(d.computeUnits) compute units, "
                + "\(d.globalMemory >> 20) MiB memory (max allocation \(d.maxAllocation >> 20) MiB)")
            lines.append("           \(d.openCLCVersion), driver \(d.driverVersion)")
            lines.append("           vendor \(d.vendor), max work-group \(d.maxWorkGroupSize), \(d.localMemory >> 10) KiB local memory")
            lines.append("           training steps: " + (OpenCLDeviceInfo.commandBuffersOffered(device: d.index)
                ? "recorded once into a command buffer (cl_khr_command_buffer) and replayed; GLOW_CL_COMMAND_BUFFERS=0 turns it off"
                : "enqueued kernel by kernel (no cl_khr_command_buffer)"))
            do {
                let t = try KernelTuningTable.tuning(for: d.kernelDevice, environment: ProcessInfo.processInfo.environment)
                lines.append("           kernels: \(t.variant) variant, " + t.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: " "))
            } catch {
                lines.append("           kernels: \(error)")
            }
            if check {
                do {
                    let b = try OpenCLBackend(device: d)
                    lines.append(String(format: "           kernels.cl built in %.3f s (%@)", b.buildSeconds,
                                        b.buildSeconds < 0.3 ? "from the driver's cache" : "compiled"))
                } catch {
                    lines.append("           kernels.cl failed to build: \(error)")
                }
            }
        }
        return lines
    }
}
