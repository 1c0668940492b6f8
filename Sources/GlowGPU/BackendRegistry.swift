import Foundation
import GlowCore
import GlowCPU

/// Every backend kind this build has. `--device`, its help text, `glow-gpu devices`,
/// selftest and the tests read this list; a new backend is a folder with its `BackendKind`
/// plus one entry here (docs/architecture.md lists the files).
public enum BackendRegistry {
    /// The kinds, in the order `glow-gpu devices` lists them.
    public static let kinds: [any BackendKind] = [CPUKind(), CUDAKind(), OpenCLKind()]

    /// The `--device` value that picks the best kind available (`BackendKind.autoRank`).
    public static let auto = "auto"

    /// The kind called `name`, if any.
    public static func kind(named name: String) -> (any BackendKind)? { kinds.first { $0.name == name } }

    /// The `--device` help text, from the kinds' forms.
    public static var deviceHelp: String {
        let byAuto = kinds.sorted { $0.autoRank < $1.autoRank }.map(\.autoDescription)
        let forms = [kinds[0].specForms, ["\(auto) (\(byAuto.joined(separator: ", else ")))"]]
            + kinds.dropFirst().map(\.specForms)
        return forms.joined().joined(separator: ", ") + ", or part of a device name (see `glow-gpu devices`)."
    }
}

/// Turns a `--device` value into a backend: `auto` (the kinds in `autoRank` order, each
/// taking a device only if it should: a CUDA device, else an OpenCL GPU or accelerator, else
/// the CPU), a form some kind owns (`cpu`, `cuda`, `cuda:N`, `opencl`, `opencl:N`, `gpu`),
/// or a substring of a device's name.
public enum DeviceSelector {
    /// Opens the backend `spec` names; `precision` other than FP32 needs a backend with
    /// reduced-precision GEMMs. `localRank` and `localSize` place one of several processes on
    /// this machine (MPI ranks): see `Placement`.
    public static func open(_ spec: String, precision: GEMMPrecision = .fp32, localRank: Int = 0,
                            localSize: Int = 1) throws -> any Backend {
        let backend = try openDevice(spec, precision: precision, placement: Placement(localRank: localRank, localSize: localSize))
        if precision != .fp32 && !(backend is ReducedPrecisionGEMM) {
            throw GlowError("\(Setting.precision) \(precision.rawValue): the \(backend.name) backend computes in FP32 only; "
                + "TF32 needs \(Setting.device) \(CUDAKind().name) (an NVIDIA GPU of compute capability 8.0 or newer)")
        }
        return backend
    }

    private static func openDevice(_ spec: String, precision: GEMMPrecision, placement: Placement) throws -> any Backend {
        let s = spec.trimmingCharacters(in: .whitespaces).lowercased()
        let kinds = BackendRegistry.kinds
        if s == BackendRegistry.auto {
            for kind in kinds.sorted(by: { $0.autoRank < $1.autoRank }) {
                if let b = try kind.openAuto(precision: precision, placement: placement) { return b }
            }
            throw GlowError.invalid(.device, value: "\(spec)", expected: "no backend is available")
        }
        for kind in kinds {
            if let b = try kind.open(spec: s, original: spec, precision: precision, placement: placement) { return b }
        }
        for kind in kinds {
            if let b = try kind.open(nameContaining: s, precision: precision) { return b }
        }
        let names = kinds.flatMap { $0.deviceNames() }
        let forms = ([kinds[0].specForms, [BackendRegistry.auto]] + kinds.dropFirst().map(\.specForms)).joined()
        throw GlowError("\(Setting.device) \(spec): not \(forms.joined(separator: ", ")), nor part of a device name"
            + (names.isEmpty ? " (no GPU device is installed)" : " (devices: \(names.joined(separator: ", ")))"))
    }
}
