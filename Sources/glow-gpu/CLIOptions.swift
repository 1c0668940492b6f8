import ArgumentParser
import Foundation
import GlowGPU

/// `--checkpoint` and `--device`: the model every generative subcommand loads.
struct ModelOptions: ParsableArguments {
    @Option(help: "The model checkpoint (a glow-gpu safetensors file).")
    var checkpoint: String

    @Option(help: "\(BackendRegistry.deviceHelp)")
    var device: String = BackendRegistry.auto

    @Option(help: "fp32, or tf32: the coupling networks' convolutions on TF32 tensor cores (CUDA only).")
    var precision: GEMMPrecision = .fp32

    @Option(help: "Images per device call when encoding or decoding.")
    var batch: Int = 64

    @OptionGroup var threadsOption: ThreadsOption

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch \(batch): must be at least 1") }
    }

    /// Loads the checkpoint onto the device.
    func load() throws -> GlowModel {
        threadsOption.apply()
        let m = try GlowModel(checkpoint: checkpoint, device: device, precision: precision)
        m.batchSize = batch
        return m
    }
}

/// `--threads`: the CPU backend's threads, on every command that opens a device.
struct ThreadsOption: ParsableArguments {
    @Option(help: "CPU backend threads (default: the cores this process may use, from its affinity mask and cgroup CPU quota, divided among the MPI ranks on this machine). Results do not depend on it.")
    var threads: Int?

    func validate() throws {
        if let threads {
            do { try CPUThreads.validate(threads) } catch { throw ValidationError(error.commandLineDescription) }
        }
    }

    /// Makes `--threads` the count of every CPU backend this process opens.
    func apply() {
        if let threads { CPUThreads.requested = threads }
    }
}

/// `--dataset`, `--data`, `--image-size`, `--split`: which images to read.
struct DatasetOptions: ParsableArguments {
    @Option(help: "mnist, fashion-mnist, cifar10 or folder (a folder of PNG files).")
    var dataset: String?

    @Option(help: "The dataset's folder (default: data/mnist for mnist, /usr/share/datasets/fashion-mnist for fashion-mnist; required for cifar10 and folder).")
    var data: String?

    @Option(help: "Resample the images to N×N (area filter) before the checkpoint's padding is applied.")
    var imageSize: Int?

    @Option(help: "train or test.")
    var split: String = "test"

    func validate() throws {
        if let dataset { _ = try DatasetLoader.Kind.named(dataset) }
        if let imageSize, imageSize < 1 { throw ValidationError("--image-size \(imageSize): must be at least 1") }
        guard split == "train" || split == "test" else { throw ValidationError("--split \(split): expected train or test") }
    }

    /// The dataset's split, resampled and padded for `model`, restricted to `offset ..< offset+count`
    /// (all from `offset` when `count` is nil). The dataset must be named.
    func load(for model: GlowModel, offset: Int = 0, count: Int? = nil) throws -> ImageSet {
        guard let dataset else { throw ValidationError("--dataset is required") }
        let kind = try DatasetLoader.Kind.named(dataset)
        let c = model.config
        let all = try DatasetLoader.load(kind, directory: data, split: split, channels: c.channels)
        let set = try DatasetLoader.prepare(try DatasetLoader.range(all, offset: offset, count: count),
                                            imageSize: imageSize, pad: c.pad)
        guard set.channels == c.channels, set.height == c.height, set.width == c.width else {
            var note = ""
            if c.pad > 0 { note += " after the checkpoint's padding of \(c.pad) on each side" }
            if imageSize == nil && set.channels == c.channels { note += "; --image-size may resample them" }
            throw GlowError("--dataset \(dataset): the images are \(set.channels)×\(set.height)×\(set.width)\(note), "
                + "but the model (\(model.checkpointDescription)) takes \(c.channels)×\(c.height)×\(c.width)")
        }
        return set
    }
}

extension GlowModel {
    /// A short label for messages.
    var checkpointDescription: String { "K=\(config.K), L=\(config.L), hidden \(config.hidden)" }
}

/// Parses a comma-separated list of numbers, naming the option on error.
func parseFloats(_ s: String, option: String) throws -> [Float] {
    let parts = s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    var out: [Float] = []
    for p in parts {
        guard let v = Float(p), v.isFinite else {
            throw ValidationError("\(option) \(s): '\(p)' is not a number (expected a comma-separated list such as -1,0,1)")
        }
        out.append(v)
    }
    return out
}

/// The lower-cased extension of `path`.
func fileExtension(_ path: String) -> String { (path as NSString).pathExtension.lowercased() }

/// Checks that `path` ends in one of `allowed`.
func requireExtension(_ path: String, _ allowed: [String], option: String = "--out") throws {
    guard allowed.contains(fileExtension(path)) else {
        throw ValidationError("\(option) \(path): expected a file ending in " + allowed.map { "." + $0 }.joined(separator: " or "))
    }
}

/// Seconds since `start`.
func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

extension GEMMPrecision: ExpressibleByArgument {}
