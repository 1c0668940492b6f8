import Foundation
import GlowCore
import GlowCPU

/// Turns a `--device` value into a backend: `cpu`, `cuda` (the first CUDA device), `cuda:N`,
/// `opencl` (the first OpenCL device), `opencl:N`, `gpu` (the first OpenCL GPU or
/// accelerator; an error when there is none), `auto` (a CUDA device if CUDA is usable, else
/// an OpenCL GPU or accelerator, else the CPU), or a substring of a device's name.
public enum DeviceSelector {
    /// Opens the backend `spec` names; `precision` other than FP32 needs the CUDA backend.
    /// For one of `localSize` processes on this machine (MPI ranks), see `openForRank`.
    public static func open(_ spec: String, precision: GEMMPrecision = .fp32, localRank: Int = 0,
                            localSize: Int = 1) throws -> any Backend {
        let backend = localSize > 1
            ? try openForRank(spec, precision: precision, localRank: localRank, localSize: localSize)
            : try openDevice(spec, precision: precision)
        if precision != .fp32 && !(backend is CUDABackend) {
            throw GlowError("--precision \(precision.rawValue): the \(backend.name) backend computes in FP32 only; "
                + "TF32 needs --device cuda (an NVIDIA GPU of compute capability 8.0 or newer)")
        }
        return backend
    }

    /// Opens CUDA device `index` (nil: the first), or explains why CUDA is unavailable.
    static func openCUDA(_ spec: String, index: Int?, precision: GEMMPrecision) throws -> CUDABackend {
        let devices: [CUDADeviceInfo]
        do { devices = try CUDADeviceInfo.usable() } catch { throw GlowError("--device \(spec): \(error)") }
        let n = index ?? 0
        guard devices.indices.contains(n) else {
            throw GlowError("--device \(spec): there are \(devices.count) CUDA devices (0…\(devices.count - 1)); see `glow-gpu devices`")
        }
        return try CUDABackend(device: devices[n], precision: precision)
    }

    private static func openDevice(_ spec: String, precision: GEMMPrecision) throws -> any Backend {
        let s = spec.trimmingCharacters(in: .whitespaces)
        switch s.lowercased() {
        case "cpu":
            return CPUBackend()
        case "auto":
            if let devices = try? CUDADeviceInfo.usable(), let d = devices.first {
                do { return try CUDABackend(device: d, precision: precision) } catch {
                    // A CUDA device that fails to open is reported, and auto moves on.
                    FileHandle.standardError.write(Data("--device auto: \(d.name) found but CUDA failed: \(error); trying OpenCL\n".utf8))
                }
            }
            if let d = (try? OpenCLDeviceInfo.all())?.first(where: { $0.isAccelerator }) {
                return try OpenCLBackend(device: d)
            }
            return CPUBackend()
        case "cuda":
            return try openCUDA(spec, index: nil, precision: precision)
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
            if s.lowercased().hasPrefix("cuda:") {
                guard let n = Int(s.dropFirst(5)), n >= 0 else {
                    throw GlowError("--device \(spec): expected cuda:N with N a device number (see `glow-gpu devices`)")
                }
                return try openCUDA(spec, index: n, precision: precision)
            }
            if let d = (try? CUDADeviceInfo.usable())?.first(where: { $0.name.lowercased().contains(s.lowercased()) }) {
                return try CUDABackend(device: d, precision: precision)
            }
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
            throw GlowError("--device \(spec): not cpu, auto, cuda, cuda:N, opencl, opencl:N, nor part of a device name"
                + (all.isEmpty ? " (no OpenCL device is installed)" : " (devices: \(all.map(\.name).joined(separator: ", ")))"))
        }
    }

    /// Opens the backend `spec` names for one of `localSize` processes on this machine
    /// (MPI ranks): `auto`, `cuda` and `opencl` take the device number `localRank` (modulo
    /// their count), and the CPU backend gets `--threads`, else this rank's share of the
    /// cores (`CPUThreads.share`: the cores mpirun bound it to, or the available cores
    /// divided by `localSize`), so the ranks divide the cores. Other specs name one device
    /// explicitly and are opened as given.
    static func openForRank(_ spec: String, precision: GEMMPrecision, localRank: Int, localSize: Int) throws -> any Backend {
        let cpu = { CPUBackend(threads: CPUThreads.defaultCount(localSize: localSize)) }
        let cudaDevices = (try? CUDADeviceInfo.usable()) ?? []
        switch spec.trimmingCharacters(in: .whitespaces).lowercased() {
        case "cpu":
            return cpu()
        case "auto":
            if !cudaDevices.isEmpty {
                return try CUDABackend(device: cudaDevices[localRank % cudaDevices.count], precision: precision)
            }
            let gpus = ((try? OpenCLDeviceInfo.all()) ?? []).filter(\.isAccelerator)
            return gpus.isEmpty ? cpu() : try OpenCLBackend(device: gpus[localRank % gpus.count])
        case "cuda":
            if cudaDevices.isEmpty { return try openCUDA(spec, index: nil, precision: precision) }   // says why
            return try CUDABackend(device: cudaDevices[localRank % cudaDevices.count], precision: precision)
        case "opencl", "gpu", "cl":
            let all = try OpenCLDeviceInfo.all()
            let gpus = all.filter(\.isAccelerator)
            let pool = gpus.isEmpty ? all : gpus
            guard !pool.isEmpty else { throw noDevice(spec) }
            return try OpenCLBackend(device: pool[localRank % pool.count])
        default:
            return try openDevice(spec, precision: precision)
        }
    }

    static func noDevice(_ spec: String) -> GlowError {
        GlowError("--device \(spec): no OpenCL device found. The ICD loader found no platform; install one "
            + "(Debian: `apt-get install pocl-opencl-icd` for the CPU, or a GPU driver's ICD), or use --device cpu")
    }
}
