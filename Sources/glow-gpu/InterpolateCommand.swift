import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu interpolate`: a row of images between two dataset images.
struct InterpolateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "interpolate",
        abstract: "Interpolate linearly between the latents of two dataset images.",
        discussion: "Encodes images --from and --to (no noise), interpolates every level's latent at t = 0, 1/(S-1), …, 1 and decodes them into one row of a PNG; the row's ends are the two reconstructions.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Index of the first image in the split.")
    var from: Int

    @Option(help: "Index of the second image in the split.")
    var to: Int

    @Option(help: "Images in the row, ends included (at least 2).")
    var steps: Int = 8

    @Option(help: "The PNG to write.")
    var out: String

    func validate() throws {
        guard dataset.dataset != nil else { throw ValidationError("--dataset is required") }
        guard steps >= 2 else { throw ValidationError("--steps \(steps): must be at least 2") }
        guard from >= 0, to >= 0 else { throw ValidationError("--from and --to must be image indices ≥ 0") }
        try requireExtension(out, ["png"])
    }

    func run() throws {
        let m = try model.load()
        let set = try dataset.load(for: m)
        for (name, i) in [("--from", from), ("--to", to)] where i >= set.count {
            throw GlowError("\(name) \(i): the \(dataset.split) split holds \(set.count) images (0…\(set.count - 1))")
        }
        let row = try m.interpolate(images: set.subset([from, to]), from: 0, to: 1, steps: steps)
        try row.writePNGGrid(path: out, columns: steps)
        print("interpolated images \(from) → \(to) in \(steps) steps on \(m.deviceName) → \(out)")
    }
}
