import ArgumentParser
import Foundation
import GlowGPU

@main
struct GlowCommand: ParsableCommand {
    /// OpenBLAS's idle threads spin (sched_yield) for a long while after each call,
    /// competing on small machines with the elementwise work between GEMMs; measured on 2
    /// cores: 34.5 → 40 images/s training `mnist`. The variable is read when the library
    /// loads, so the process re-executes itself once with it set (unless the user set it).
    static func main() {
        if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)   // returns only on failure: carry on as we are
        }
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            // The library names settings (`learningRate`); errors print with their options (`--lr`).
            exit(withError: CommandLineError.presenting(error))
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "glow-gpu",
        abstract: "Glow (generative flow with invertible 1×1 convolutions) on OpenCL devices and the CPU.",
        subcommands: [DevicesCommand.self, EncodeCommand.self, DecodeCommand.self, SampleCommand.self,
                      InterpolateCommand.self, ManipulateCommand.self, TrainCommand.self, EvalCommand.self, BenchCommand.self,
                      SelftestCommand.self, ServeCommand.self])
}
