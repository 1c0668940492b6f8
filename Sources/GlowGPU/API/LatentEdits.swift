import Foundation
import GlowCore

/// The attribute directions of several labels (the paper's manipulation vectors, as
/// `GlowModel.manipulationDirection(images:label:count:)` computes one), with a file format so
/// that a program can compute them once and keep them beside the checkpoint.
///
/// ```swift
/// let dirs = try model.manipulationDirections(images: testSet, count: 100)
/// let z = try model.encode(try testSet.subset([7]))
/// let moved = try model.shift(z, along: [(try dirs.direction(3), 0.8)])
/// let picture = try model.decodePixels(moved)
/// ```
public struct ManipulationDirections: Sendable, Equatable {
    /// The `format` tag of the file's `__metadata__`.
    public static let format = "glow-gpu-directions/1"

    /// The labels, ascending.
    public let labels: [Int]
    /// `directions[i]` is the one-image direction of `labels[i]`.
    public let directions: [Latents]
    /// Images with the label that went into each direction.
    public let withLabel: [Int]
    /// Images with another label that went into each direction.
    public let withoutLabel: [Int]
    /// Free-form provenance (what the directions were computed from), stored in the file.
    public var metadata: [String: String]

    /// Directions for `labels` (ascending, distinct), one image each and of one shape.
    /// - Throws: `GlowError` when the counts disagree, labels repeat, or a direction is not one image.
    public init(labels: [Int], directions: [Latents], withLabel: [Int], withoutLabel: [Int],
                metadata: [String: String] = [:]) throws {
        guard labels.count == directions.count, labels.count == withLabel.count, labels.count == withoutLabel.count else {
            throw GlowError("manipulation directions: \(labels.count) labels, \(directions.count) directions, "
                + "\(withLabel.count) and \(withoutLabel.count) counts")
        }
        guard labels == labels.sorted(), Set(labels).count == labels.count else {
            throw GlowError("manipulation directions: labels \(labels) must be ascending and distinct")
        }
        for (l, d) in zip(labels, directions) where d.count != 1 || d.shapes != directions[0].shapes {
            throw GlowError("manipulation direction of label \(l): not one image of the shapes \(directions[0].shapes)")
        }
        self.labels = labels; self.directions = directions
        self.withLabel = withLabel; self.withoutLabel = withoutLabel; self.metadata = metadata
    }

    /// The direction of `label`.
    /// - Throws: `GlowError` listing the labels there are when `label` is not among them.
    public func direction(_ label: Int) throws -> Latents {
        guard let i = labels.firstIndex(of: label) else {
            throw GlowError("label \(label): no manipulation direction (labels: \(labels.map(String.init).joined(separator: ", ")))")
        }
        return directions[i]
    }

    /// Writes a safetensors file: `direction.<label>.z.<i>` `[1, C, H, W]` per label and level,
    /// `labels`, `with_label` and `without_label` (int64 `[n]`), and `__metadata__` holding
    /// `format` and `metadata`. Atomic, as every safetensors write.
    /// - Throws: `GlowError` when there are no labels or the write fails.
    public func write(to path: String) throws {
        guard !labels.isEmpty else { throw GlowError("\(path): no manipulation directions to write") }
        var meta = metadata
        meta["format"] = Self.format
        var f = SafeTensorsFile(metadata: meta)
        do {
            try f.add("labels", shape: [labels.count], ints: labels.map { Int64($0) })
            try f.add("with_label", shape: [labels.count], ints: withLabel.map { Int64($0) })
            try f.add("without_label", shape: [labels.count], ints: withoutLabel.map { Int64($0) })
            for (l, d) in zip(labels, directions) {
                for (i, (v, s)) in zip(d.levels, d.shapes).enumerated() {
                    try f.add("direction.\(l).z.\(i)", shape: [1, s.channels, s.height, s.width], floats: v)
                }
            }
            try f.write(path: path)
        } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
    }

    /// Reads a file `write(to:)` wrote, for a model whose latents have `shapes`.
    /// - Throws: `GlowError` naming the file and the tensor that is missing or misshapen.
    public static func read(path: String, shapes: [LatentShape]) throws -> ManipulationDirections {
        let f: SafeTensorsFile
        do { f = try SafeTensorsFile.read(path: path) } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        guard f.metadata["format"] == format else {
            throw GlowError("\(path): format tag \"\(f.metadata["format"] ?? "")\" is not \"\(format)\"")
        }
        do {
            guard let n = f["labels"]?.shape.first, f["labels"]?.shape.count == 1 else {
                throw GlowError("\(path): missing tensor 'labels' [n]")
            }
            let labels = try f.requireInts("labels", shape: [n]).map { Int($0) }
            let with = try f.requireInts("with_label", shape: [n]).map { Int($0) }
            let without = try f.requireInts("without_label", shape: [n]).map { Int($0) }
            let dirs = try labels.map { l in
                try Latents(count: 1, shapes: shapes, levels: try shapes.enumerated().map { i, s in
                    try f.requireFloats("direction.\(l).z.\(i)", shape: [1, s.channels, s.height, s.width])
                })
            }
            var meta = f.metadata
            meta["format"] = nil
            do {
                return try ManipulationDirections(labels: labels, directions: dirs, withLabel: with, withoutLabel: without, metadata: meta)
            } catch let e as GlowError { throw GlowError("\(path): \(e.message)") }
        } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
    }
}

extension GlowModel {
    /// The manipulation direction of every label in `labels` (default: every label of
    /// `images`), each exactly as `manipulationDirection(images:label:count:)` defines it (the
    /// mean latent of the first `count` images with the label minus that of the first `count`
    /// with another), but encoding each image needed only once.
    /// - Throws: `GlowError` when the images have no labels, `count < 1`, or a label has no
    ///   image (or every image).
    public func manipulationDirections(images: ImageSet, labels wanted: [Int]? = nil, count: Int) throws -> ManipulationDirections {
        guard let all = images.labels else { throw GlowError("manipulation needs labelled images; this image set has none") }
        guard count >= 1 else { throw GlowError("manipulation count \(count): must be at least 1") }
        let labels = Array(Set(wanted ?? all)).sorted()
        guard !labels.isEmpty else { throw GlowError("manipulation: no labels asked for") }
        var groups: [(with: [Int], without: [Int])] = []
        for l in labels {
            let with = Array(all.indices.filter { all[$0] == l }.prefix(count))
            let without = Array(all.indices.filter { all[$0] != l }.prefix(count))
            guard !with.isEmpty else { throw GlowError("label \(l): no image in the set has this label") }
            guard !without.isEmpty else { throw GlowError("label \(l): every image in the set has this label; nothing to contrast") }
            groups.append((with, without))
        }
        let union = Array(Set(groups.flatMap { $0.with + $0.without })).sorted()
        let position = Dictionary(uniqueKeysWithValues: union.enumerated().map { ($1, $0) })
        let z = try encode(try images.subset(union))
        let directions = try groups.map { g -> Latents in
            let mw = try z.selecting(g.with.map { position[$0]! }).mean()
            let mo = try z.selecting(g.without.map { position[$0]! }).mean()
            return try Latents(count: 1, shapes: mw.shapes, levels: zip(mw.levels, mo.levels).map { zip($0, $1).map { $0 - $1 } })
        }
        return try ManipulationDirections(labels: labels, directions: directions, withLabel: groups.map(\.with.count),
                                          withoutLabel: groups.map(\.without.count))
    }

    /// `z + Σ αᵢ·directionᵢ`: one image's latents moved along several directions at once (one
    /// slider per label). With no moves, `z` itself.
    /// - Throws: `GlowError` when `z` or a direction is not one image of the model's shapes,
    ///   or an α is not finite.
    public func shift(_ z: Latents, along moves: [(direction: Latents, alpha: Float)]) throws -> Latents {
        try checkShapes(z)
        guard z.count == 1 else { throw GlowError("manipulation needs the latents of one image, not \(z.count)") }
        var levels = z.levels
        for (d, a) in moves {
            guard d.count == 1, d.shapes == z.shapes else {
                throw GlowError("manipulation needs one-image directions of the latents' shapes \(z.shapes)")
            }
            guard a.isFinite else { throw GlowError("manipulation alpha \(a): must be finite") }
            for i in levels.indices { for j in levels[i].indices { levels[i][j] += a * d.levels[i][j] } }
        }
        return try Latents(count: 1, shapes: z.shapes, levels: levels)
    }

    /// `images` made the size the model takes before its padding: each image is cropped to
    /// its centred square and resampled with an area filter (`ImageTransform.resizeArea`) to
    /// `height − 2·pad` pixels a side. `encode` then pads them. Labels are kept.
    /// - Throws: `GlowError` when the channels differ from the model's or the model's images
    ///   are not square.
    public func fitted(_ images: ImageSet) throws -> ImageSet {
        let c = config
        guard images.channels == c.channels else {
            throw GlowError("the images have \(images.channels) channels but the model takes \(c.channels)")
        }
        guard c.height == c.width else {
            throw GlowError("the model's images are \(c.height)×\(c.width); only square models take resized images")
        }
        let side = min(images.height, images.width)
        var set = images
        if images.height != images.width {
            let top = (images.height - side) / 2, left = (images.width - side) / 2
            var out = [UInt8](repeating: 0, count: images.count * images.channels * side * side)
            for plane in 0 ..< images.count * images.channels {
                for y in 0 ..< side {
                    let src = (plane * images.height + top + y) * images.width + left
                    let dst = (plane * side + y) * side
                    out[dst ..< dst + side] = images.pixels[src ..< src + side]
                }
            }
            set = try ImageSet(count: images.count, channels: images.channels, height: side, width: side, pixels: out,
                               labels: images.labels, classes: images.classes)
        }
        return try ImageTransform.resizeArea(set, to: c.height - 2 * c.pad)
    }
}
