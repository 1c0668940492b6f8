import Foundation
import GlowCore
import GlowCPU

/// Turns a `--device` value into a backend: `cpu`, `opencl` (the first OpenCL device),
/// `opencl:N`, `auto` (an OpenCL GPU or accelerator if there is one, else the CPU), or a
/// substring of an OpenCL device's name.
public enum DeviceSelector {
    /// Opens the backend `spec` names.
    public static func open(_ spec: String) throws -> any Backend {
        let s = spec.trimmingCharacters(in: .whitespaces)
        switch s.lowercased() {
        case "cpu":
            return CPUBackend()
        case "auto":
            if let d = (try? OpenCLDeviceInfo.all())?.first(where: { $0.isAccelerator }) {
                return try OpenCLBackend(device: d)
            }
            return CPUBackend()
        case "opencl", "gpu", "cl":
            let all = try OpenCLDeviceInfo.all()
            guard let d = all.first(where: { $0.isAccelerator }) ?? all.first else { throw noDevice(spec) }
            return try OpenCLBackend(device: d)
        default:
            let all = try OpenCLDeviceInfo.all()
            if s.lowercased().hasPrefix("opencl:") {
                guard let n = Int(s.dropFirst(7)) else {
                    throw GlowError("--device \(spec): expected opencl:N with N a device number (see `glow-gpu devices`)")
                }
                if all.isEmpty { throw noDevice(spec) }
                guard all.indices.contains(n) else {
                    throw GlowError("--device \(spec): there are \(all.count) OpenCL devices (0…\(all.count - 1)); see `glow-gpu devices`")
                }
                return try OpenCLBackend(device: all[n])
            }
            if let d = all.first(where: { $0.name.lowercased().contains(s.lowercased()) || $0.platform.lowercased().contains(s.lowercased()) }) {
                return try OpenCLBackend(device: d)
            }
            throw GlowError("--device \(spec): not cpu, auto, opencl, opencl:N, nor part of an OpenCL device name"
                + (all.isEmpty ? " (no OpenCL device is installed)" : " (devices: \(all.map(\.name).joined(separator: ", ")))"))
        }
    }

    /// Opens the backend `spec` names for one of `localSize` processes on this machine
    /// (MPI ranks): `auto` and `opencl` take the GPU/accelerator number `localRank` (modulo
    /// their count), and the CPU backend gets `cores / localSize` threads so the ranks
    /// divide the cores. Other specs name one device explicitly and are opened as given.
    public static func open(_ spec: String, localRank: Int, localSize: Int) throws -> any Backend {
        guard localSize > 1 else { return try open(spec) }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // mpirun may bind each rank to its own cores: then those are this rank's share.
        let allowed = allowedCPUs()
        let share = allowed.map { $0 < cores ? $0 : cores / localSize } ?? cores / localSize
        let cpu = { CPUBackend(threads: max(1, share)) }
        switch spec.trimmingCharacters(in: .whitespaces).lowercased() {
        case "cpu":
            return cpu()
        case "auto":
            let gpus = ((try? OpenCLDeviceInfo.all()) ?? []).filter(\.isAccelerator)
            return gpus.isEmpty ? cpu() : try OpenCLBackend(device: gpus[localRank % gpus.count])
        case "opencl", "gpu", "cl":
            let all = try OpenCLDeviceInfo.all()
            let gpus = all.filter(\.isAccelerator)
            let pool = gpus.isEmpty ? all : gpus
            guard !pool.isEmpty else { throw noDevice(spec) }
            return try OpenCLBackend(device: pool[localRank % pool.count])
        default:
            return try open(spec)
        }
    }

    /// The CPUs this process may run on (`Cpus_allowed` in /proc/self/status), or nil.
    static func allowedCPUs() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
        let bits = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return bits > 0 ? bits : nil
    }

    static func noDevice(_ spec: String) -> GlowError {
        GlowError("--device \(spec): no OpenCL device found. The ICD loader found no platform; install one "
            + "(Debian: `apt-get install pocl-opencl-icd` for the CPU, or a GPU driver's ICD), or use --device cpu")
    }
}
