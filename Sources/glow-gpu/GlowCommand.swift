import ArgumentParser
import Foundation
import GlowGPU

@main
struct GlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glow-gpu",
        abstract: "Glow (generative flow with invertible 1×1 convolutions) on OpenCL devices and the CPU.",
        subcommands: [DevicesCommand.self, EncodeCommand.self, DecodeCommand.self, SampleCommand.self,
                      InterpolateCommand.self, ManipulateCommand.self, TrainCommand.self, EvalCommand.self, BenchCommand.self])
}
