import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu encode`: images to latents (a latent safetensors file, docs/glow-spec.md "Latent files").
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode",
        abstract: "Encode images to their latents z.0 … z.{L-1} and bits per dimension.",
        discussion: """
        The images come either from --input (a safetensors file whose tensor x [N, C, H, W] is \
        already in model space) or from --dataset. Dataset images are resampled with \
        --image-size when given, padded by the checkpoint's pad and mapped to model space with \
        its n_bits. The output holds x (exactly what was encoded), z.0 … z.{L-1}, logdet, logp, \
        objective and bpd.
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataset: DatasetOptions

    @Option(help: "A safetensors file holding x [N, C, H, W] in model space (instead of --dataset).")
    var input: String?

    @Option(help: "Images to encode (default: all from --offset).")
    var count: Int?

    @Option(help: "Index of the first dataset image.")
    var offset: Int = 0

    @Option(help: "none, or uniform: add dequantisation noise U(0, 1/2^n_bits) (dataset images only).")
    var noise: Noise = .none

    @Option(help: "Seed of the noise.")
    var seed: UInt64 = 0

    @Option(help: "The latent file to write (.safetensors).")
    var out: String

    enum Noise: String, ExpressibleByArgument, CaseIterable { case none, uniform }

    func validate() throws {
        guard (input == nil) != (dataset.dataset == nil) else {
            throw ValidationError("give either --input or --dataset (exactly one)")
        }
        if input != nil && (count != nil || offset != 0 || dataset.imageSize != nil || dataset.data != nil) {
            throw ValidationError("--count, --offset, --image-size and --data select dataset images; --input encodes all of its x as given")
        }
        if let count, count < 1 { throw ValidationError("--count \(count): must be at least 1") }
        guard offset >= 0 else { throw ValidationError("--offset \(offset): must be 0 or more") }
        try requireExtension(out, ["safetensors"])
    }

    func run() throws {
        let m = try model.load()
        let c = m.config
        let x: [Float]
        let n: Int
        if let input {
            (x, n) = try readInput(input, config: c)
            if noise == .uniform {
                let u = Philox.array(count: x.count, distribution: .uniform(low: 0, high: 1 / Float(1 << c.nBits)),
                                     seed: seed, stream: 0)
                let noisy = zip(x, u).map { $0 + $1 }
                return try encode(m, noisy, n)
            }
        } else {
            let set = try dataset.load(for: m, offset: offset, count: count)
            x = try m.modelInput(set, noise: noise == .uniform, seed: seed)
            n = set.count
        }
        try encode(m, x, n)
    }

    private func encode(_ m: GlowModel, _ x: [Float], _ n: Int) throws {
        let start = DispatchTime.now()
        let z = try m.encode(floats: x, count: n)
        let t = seconds(since: start)
        try LatentFile.write(z, x: x, config: m.config, to: out)
        let bpd = z.meanBPD ?? .nan
        print("encoded \(n) images (\(m.config.channels)×\(m.config.height)×\(m.config.width)) on \(m.deviceName): "
            + "mean bpd \(String(format: "%.4f", bpd)), \(String(format: "%.1f", Double(n) / max(t, 1e-9))) images/s → \(out)")
    }

    /// The `x` tensor of `path`, checked against the model's image shape.
    private func readInput(_ path: String, config c: GlowConfig) throws -> ([Float], Int) {
        let f: SafeTensorsFile
        do { f = try SafeTensorsFile.read(path: path) } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        guard let t = f["x"] else { throw GlowError("\(path): missing tensor 'x' (the images [N, C, H, W] in model space)") }
        guard t.shape.count == 4, t.shape[0] >= 1, Array(t.shape[1...]) == [c.channels, c.height, c.width] else {
            throw GlowError("\(path): tensor 'x' has shape \(t.shape) but the model takes [N, \(c.channels), \(c.height), \(c.width)]")
        }
        guard let v = t.floats else { throw GlowError("\(path): tensor 'x' is \(t.data.dtype) but F32 was expected") }
        guard v.allSatisfy(\.isFinite) else { throw GlowError("\(path): tensor 'x' holds a non-finite value") }
        return (v, t.shape[0])
    }
}
