import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu eval`: mean test bpd of a checkpoint.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval",
        abstract: "Mean bits per dimension of a checkpoint on a data set (dequantisation noise from a fixed seed).")

    @Option(help: "The model checkpoint.") var checkpoint: String
    @Option(help: "mnist, fashion-mnist, cifar10 or folder.") var dataset: String = "mnist"
    @Option(help: "The dataset's folder.") var data: String?
    @Option(name: .customLong("image-size"), help: "Resample images to N×N before the checkpoint's padding.") var imageSize: Int?
    @Option(help: "train or test.") var split: String = "test"
    @Option(help: "Evaluate only the first N images.") var count: Int?
    @Option(help: "Images per device call.") var batch: Int = 100
    @Option(help: "Seed of the dequantisation noise.") var seed: UInt64 = 1234
    @Option(help: "\(BackendRegistry.deviceHelp)") var device: String = BackendRegistry.auto
    @Option(help: "fp32, or tf32: the coupling networks' convolutions on TF32 tensor cores (CUDA only).")
    var precision: GEMMPrecision = .fp32
    @Flag(help: "Print {\"bpd\": …, \"images\": …} only.") var json = false
    @OptionGroup var threadsOption: ThreadsOption

    func run() throws {
        // GlowError and DataError print as "Error: <message>"; with --json the failure is also
        // a JSON object on stdout, so the output is always valid JSON.
        do {
            threadsOption.apply()
            let backend = try DeviceSelector.open(device, precision: precision)
            try evaluate(backend)
        } catch {
            if json {
                if let data = try? JSONEncoder().encode(EvalReport.Failure(error: error.commandLineDescription)) {
                    print(String(decoding: data, as: UTF8.self))
                }
            }
            throw error
        }
    }

    func evaluate<B: Backend>(_ backend: B) throws {
        guard batch >= 1 else { throw GlowError("--batch \(batch): must be at least 1") }
        let model = try Checkpoint.load(checkpoint, backend: backend)
        let raw = try DatasetLoader.load(try DatasetLoader.Kind.named(dataset), directory: data, split: split,
                                         channels: model.config.channels)
        var set = try DatasetLoader.prepare(raw, imageSize: imageSize, pad: model.config.pad)
        if let count { set = try DatasetLoader.range(set, offset: 0, count: count) }
        let start = Date()
        let progress: Progress? = json ? nil : Progress(total: set.count, label: "eval")
        let bpd = try Evaluation.meanBPD(model, set, batch: batch, seed: seed) { done, total in
            progress?.update(done, "")
        }
        if json {
            // meanBPD throws for a non-finite mean, so the number is always valid JSON.
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(EvalReport(bpd: bpd, images: set.count)), as: UTF8.self))
        } else {
            let s = Date().timeIntervalSince(start)
            print(String(format: "%@ %@: %.4f bits per dimension over %d images (%.1f images/s, %@)", dataset, split, bpd,
                         set.count, Double(set.count) / s, backend.name))
        }
    }
}

/// `glow-gpu eval --json`: the mean bits per dimension and the images it is over, or the error.
struct EvalReport: Encodable {
    var bpd: Double
    var images: Int
    /// The output of a failed evaluation.
    struct Failure: Encodable { var error: String }
}
