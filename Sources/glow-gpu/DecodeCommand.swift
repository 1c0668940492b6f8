import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu decode`: latents back to images.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode",
        abstract: "Decode the latents z.0 … z.{L-1} of a latent file back to images.",
        discussion: "--out FILE.safetensors writes x [N, C, H, W] in model space; --out FILE.png writes a grid of the images.")

    @OptionGroup var model: ModelOptions

    @Option(help: "A latent file written by `glow-gpu encode` (or any safetensors file with z.0 … z.{L-1}).")
    var latents: String

    @Option(help: "Images per row of a PNG grid (default ⌈√N⌉).")
    var columns: Int?

    @Option(help: "The output: .safetensors (x) or .png (a grid).")
    var out: String

    func validate() throws {
        try requireExtension(out, ["safetensors", "png"])
        if let columns, columns < 1 { throw ValidationError("--columns \(columns): must be at least 1") }
    }

    func run() throws {
        let m = try model.load()
        let (z, _) = try LatentFile.read(path: latents, shapes: m.latentShapes)
        let start = DispatchTime.now()
        let x = try m.decode(z)
        let t = seconds(since: start)
        if fileExtension(out) == "png" {
            try m.pixels(x, count: z.count).writePNGGrid(path: out, columns: columns)
        } else {
            let c = m.config
            var f = SafeTensorsFile(metadata: ["format": "glow-gpu-images/1", "config": c.json()])
            do {
                try f.add("x", shape: [z.count, c.channels, c.height, c.width], floats: x)
                try f.write(path: out)
            } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        }
        print("decoded \(z.count) images on \(m.deviceName) (\(String(format: "%.1f", Double(z.count) / max(t, 1e-9))) images/s) → \(out)")
    }
}
