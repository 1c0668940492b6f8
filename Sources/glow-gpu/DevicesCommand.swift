import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu devices`: every backend kind's devices, or why it is unavailable
/// (`BackendKind.report`), in `BackendRegistry` order.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices",
        abstract: "List the CPU backend, the CUDA devices and every OpenCL platform and device.")

    @Flag(help: "Also build kernels.cl on every CUDA and OpenCL device and report the build time.")
    var check = false
    @OptionGroup var threadsOption: ThreadsOption

    func run() throws {
        threadsOption.apply()
        for kind in BackendRegistry.kinds {
            for line in kind.report(check: check) { print(line) }
        }
    }
}
