import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu manipulate`: move an image along a label's direction in latent space.
struct ManipulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "manipulate",
        abstract: "Shift an image's latents along the direction of a label.",
        discussion: "The direction is, at every level, the mean latent of the first --count images with --label minus the mean latent of the first --count images without it. Image --index is decoded from latent + alpha·direction for each alpha, in one row of a PNG; alpha 0 is its reconstruction.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataset: DatasetOptions

    @Option(help: "The label whose direction is followed.")
    var label: Int

    @Option(help: "Index of the image to manipulate.")
    var index: Int

    @Option(parsing: .unconditional, help: "Comma-separated multiples of the direction (may start with a minus sign).")
    var alphas: String = "-1,-0.5,0,0.5,1"

    @Option(help: "Images per group for the mean latents.")
    var count: Int = 100

    @Option(help: "The PNG to write.")
    var out: String

    func validate() throws {
        guard dataset.dataset != nil else { throw ValidationError("--dataset is required") }
        guard count >= 1 else { throw ValidationError("--count \(count): must be at least 1") }
        guard index >= 0 else { throw ValidationError("--index \(index): must be 0 or more") }
        guard !(try parseFloats(alphas, option: "--alphas")).isEmpty else { throw ValidationError("--alphas: give at least one") }
        try requireExtension(out, ["png"])
    }

    func run() throws {
        let m = try model.load()
        let a = try parseFloats(alphas, option: "--alphas")
        let set = try dataset.load(for: m)
        guard index < set.count else {
            throw GlowError("--index \(index): the \(dataset.split) split holds \(set.count) images (0…\(set.count - 1))")
        }
        guard set.labels != nil else {
            throw GlowError("--dataset \(dataset.dataset ?? ""): the images have no labels; manipulation needs labelled images")
        }
        let (direction, nWith, nWithout) = try m.manipulationDirection(images: set, label: label, count: count)
        let row = try m.manipulate(images: set, index: index, direction: direction, alphas: a)
        try row.writePNGGrid(path: out, columns: a.count)
        print("manipulated image \(index) along label \(label) (direction from \(nWith) images with it, \(nWithout) without) "
            + "at alphas \(a.map { String(format: "%g", $0) }.joined(separator: ",")) on \(m.deviceName) → \(out)")
    }
}
