import GlowCore

/// Which shape of kernels.cl a device gets: `cpu` (PoCL: loop-free elementwise bodies,
/// float16 register tiles, no `__local` memory) or `gpu` (many threads per work-group,
/// `__local` tiles, tree reductions).
public enum KernelVariant: String, Sendable, CaseIterable {
    case cpu, gpu
}

/// The compile-time constants kernels.cl is built with (`-D NAME=VALUE`) and the launch
/// geometry that goes with them.
public struct KernelTuning: Sendable, Equatable {
    /// The kernel shape.
    public var variant: KernelVariant
    /// Named constants, passed to the kernel compiler as `-D NAME=VALUE`.
    public var values: [String: Int]

    /// A tuning of `variant` with `values`.
    public init(variant: KernelVariant, values: [String: Int] = [:]) {
        self.variant = variant; self.values = values
    }

    /// The value of `name`, or `fallback` when the tuning does not set it.
    public subscript(_ name: String, default fallback: Int) -> Int { values[name] ?? fallback }

    /// The `-D` options for the kernel compiler, sorted by name so equal tunings give equal
    /// option strings (and program-cache keys).
    public var defines: [String] {
        ["-DGLOW_VARIANT_\(variant.rawValue.uppercased())=1"]
            + values.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" }
    }
}

/// A backend that runs kernels.cl: the OpenCL backend and the CUDA backend. A conforming
/// device supplies buffers, GEMM and one way to launch a kernel; every other `Backend`
/// operation is written once, in this protocol's extension (KernelBackend+Operations.swift),
/// as launches of kernels.cl's kernels with the geometry of `tuning`.
public protocol KernelBackend: Backend {
    /// The kernel variant and constants the device's program was built with.
    var tuning: KernelTuning { get }
    /// Enqueues `kernel` over `global` work-items (already a multiple of `local` in every
    /// dimension, none zero) in work-groups of `local`. `args` have been checked against
    /// `kernel.arguments`.
    func enqueue(_ kernel: Kernel, _ args: [OpArgument<Buffer>], global: [Int], local: [Int]) throws
    /// Whether 3×3 convolutions run as kernels.cl's implicit-GEMM kernels (default: on the
    /// GPU variant). A backend whose GEMM is a vendor library (CUDA's cuBLAS, with TF32)
    /// answers false and gets the lowering to GEMM instead.
    var implicitConvolutions: Bool { get }
}

extension KernelBackend {
    public var implicitConvolutions: Bool { tuning.variant == .gpu }
}

extension KernelBackend {
    /// Launches `kernel` over `global` work-items in groups of `local`: checks the arguments
    /// against kernels.cl's table, rounds `global` up to a multiple of `local` (kernels guard
    /// their bounds) and skips empty launches.
    public func launch(_ kernel: Kernel, _ args: [OpArgument<Buffer>], global: [Int], local: [Int]) throws {
        try kernel.check(args)
        guard global.count == local.count, local.allSatisfy({ $0 >= 1 }) else {
            throw GlowError("kernel \(kernel.name): global size \(global) and local size \(local) do not match")
        }
        if global.contains(where: { $0 <= 0 }) { return }
        let g = zip(global, local).map { (($0 + $1 - 1) / $1) * $1 }
        try enqueue(kernel, args, global: g, local: local)
        counters.launches += 1
        counters.byKernel[kernel.name, default: 0] += 1
    }

}
