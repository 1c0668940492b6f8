import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu selftest`: every backend operation on a device against the CPU backend, then
/// a small model's forward, reverse and gradient passes; exits 1 when any row fails.
struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "selftest",
        abstract: "Check every backend operation and a small model on a device against the CPU backend (exit 1 on any failure).")

    @Option(help: "\(BackendRegistry.deviceHelp)")
    var device: String = BackendRegistry.auto
    @Option(help: "fp32, or tf32: also the rows of every operation TF32 reaches, run with TF32 allowed (CUDA only).")
    var precision: GEMMPrecision = .fp32
    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Flag(name: .customLong("no-model"), help: "Only the operation rows, not the small-model check.") var noModel = false
    @OptionGroup var threadsOption: ThreadsOption

    func run() throws {
        threadsOption.apply()
        let backend = try DeviceSelector.open(device, precision: precision)
        let report = try check(backend)
        if json { print(report.json()) } else { print(report.summary) }
        if !report.ok { throw ExitCode(1) }
    }

    func check<B: Backend>(_ backend: B) throws -> SelfTestReport {
        let cpu = CPUBackend()
        if !json {
            print("selftest \(backend.name) against \(cpu.name)")
            print(SelfTestReport.header)
        }
        // Rows print as they complete, so a hang or a crash on a new driver shows where.
        return SelfTest.run(subject: backend, reference: cpu, model: !noModel, precision: precision) { row in
            if !json { print(SelfTestReport.line(row)); fflush(stdout) }
        }
    }
}
