import Foundation
import GlowCore
import GlowCPU

/// Turns a `--device` value into a backend: `cpu`, `opencl` (the first OpenCL device),
/// `gpu` (the first OpenCL GPU or accelerator; an error when there is none), `opencl:N`, `auto` (an OpenCL GPU or accelerator if there is one, else the CPU), or a
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
        case "gpu":
            // Strict, unlike `opencl`: a GPU check must not quietly run on PoCL's CPU device.
            let all = try OpenCLDeviceInfo.all()
            guard let d = all.first(where: { $0.isAccelerator }) else {
                throw GlowError("--device gpu: no OpenCL GPU or accelerator found"
                    + (all.isEmpty ? " (no OpenCL device at all)" : " (devices: \(all.map { "\($0.name) [\($0.type)]" }.joined(separator: ", ")))")
                    + "; see `glow-gpu devices`")
            }
            return try OpenCLBackend(device: d)
        case "opencl", "cl":
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

    static func noDevice(_ spec: String) -> GlowError {
        GlowError("--device \(spec): no OpenCL device found. The ICD loader found no platform; install one "
            + "(Debian: `apt-get install pocl-opencl-icd` for the CPU, or a GPU driver's ICD), or use --device cpu")
    }
}
