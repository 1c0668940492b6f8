import Foundation
import GlowGPU

/// What `glow-gpu serve` does once at start-up: the data set made the model's size, the label
/// directions (read from the cache beside the checkpoint, or computed and written there), and the
/// test bpd of the run the checkpoint came from.
public enum ServeSetup {
    /// Class names of the data sets that have them.
    public static func labelNames(dataset: String) -> [Int: String] {
        let names: [String]
        switch dataset {
        case "cifar10": names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        case "fashion-mnist": names = ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
        default: return [:]
        }
        return Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0, $1) })
    }

    /// `images` as the server keeps them: the model's size before its padding (resized with
    /// `GlowModel.fitted(_:)` when they differ). Returns the set and whether it was resized.
    public static func fit(_ images: ImageSet, for model: GlowModel) throws -> (ImageSet, resized: Bool) {
        let c = model.config
        if images.channels == c.channels, images.height == c.height - 2 * c.pad, images.width == c.width - 2 * c.pad {
            return (images, false)
        }
        return (try model.fitted(images), true)
    }

    /// The default cache of the label directions: `<checkpoint without extension>.directions.safetensors`.
    public static func directionsPath(checkpoint: String) -> String {
        let url = URL(fileURLWithPath: checkpoint)
        return url.deletingPathExtension().path + ".directions.safetensors"
    }

    /// What the cached directions must have been computed from to be reused: the checkpoint's
    /// size and modification time, the data set and its split, and the images per group.
    public static func cacheKey(checkpoint: String, dataset: String, split: String, count: Int, images: Int) -> [String: String] {
        let attrs = try? FileManager.default.attributesOfItem(atPath: checkpoint)
        let size = (attrs?[.size] as? NSNumber)?.intValue ?? -1
        let mtime = (attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        return ["checkpoint_size": String(size), "checkpoint_mtime": String(format: "%.6f", mtime), "dataset": dataset,
                "split": split, "count": String(count), "dataset_images": String(images)]
    }

    /// The directions of every label of `images`: read from `cache` when it holds directions
    /// computed from the same checkpoint, data set and count (`key`), else computed with
    /// `GlowModel.manipulationDirections(images:count:)` and written to `cache` (a failed write
    /// is reported through `log`, not thrown). Returns them and whether they came from the cache.
    public static func directions(model: GlowModel, images: ImageSet, count: Int, cache: String?, key: [String: String],
                                  log: (String) -> Void) throws -> (ManipulationDirections, cached: Bool) {
        if let cache, FileManager.default.fileExists(atPath: cache) {
            do {
                let d = try ManipulationDirections.read(path: cache, shapes: model.latentShapes)
                if key.allSatisfy({ d.metadata[$0.key] == $0.value }) { return (d, true) }
                log("\(cache) was computed from another checkpoint, data set or count; computing the directions again")
            } catch let e as GlowError {
                log("\(e.message); computing the directions again")
            }
        }
        var d = try model.manipulationDirections(images: images, count: count)
        d.metadata = key
        if let cache {
            do { try d.write(to: cache) } catch let e as GlowError {
                log("cannot cache the directions (\(e.message)); they will be computed again next time")
            }
        }
        return (d, false)
    }

    /// The last test bpd in the `metrics.jsonl` beside `checkpoint` (as `glow-gpu train` writes
    /// it), with where it came from; nil when there is none.
    public static func testBPD(checkpoint: String) -> (bpd: Double, source: String)? {
        let path = URL(fileURLWithPath: checkpoint).deletingLastPathComponent().appendingPathComponent("metrics.jsonl").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var found: (Double, String)?
        for line in text.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let bpd = (o["test_bpd"] as? NSNumber)?.doubleValue, bpd.isFinite else { continue }
            let step = (o["step"] as? NSNumber)?.intValue
            found = (bpd, "\(path)" + (step.map { ", step \($0)" } ?? ""))
        }
        return found
    }
}
