import Foundation

/// The shape of one image's latent at one level: `channels × height × width`.
public struct LatentShape: Sendable, Equatable, CustomStringConvertible {
    /// Channels.
    public let channels: Int
    /// Rows.
    public let height: Int
    /// Columns.
    public let width: Int
    /// Creates a shape.
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    /// `channels · height · width`.
    public var count: Int { channels * height * width }
    /// `C×H×W`.
    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// The latent codes of a batch of images, on the host: `z.0 … z.{L-1}` (the split latents of
/// levels 0…L-2, then the top latent), each in NCHW order, plus, when they came from an
/// encoder, the per-image terms of the objective.
public struct Latents: Sendable, Equatable {
    /// Number of images.
    public let count: Int
    /// The per-image shape of each level, `z.0` first.
    public let shapes: [LatentShape]
    /// `levels[i]` holds `count × shapes[i].count` floats, NCHW.
    public var levels: [[Float]]
    /// Per image `log|det ∂z/∂x|` in nats; empty when not produced by an encoder.
    public var logdet: [Double]
    /// Per image `log p(z)` in nats; empty when not produced by an encoder.
    public var logp: [Double]
    /// Per image `log p(z) + logdet − D·log(2^n_bits)`; empty when not produced by an encoder.
    public var objective: [Double]
    /// Per image bits per dimension, `−objective / (D · ln 2)`; empty when not produced by an encoder.
    public var bpd: [Double]

    /// Latents without objective terms.
    /// - Throws: `GlowError` when a level's float count is not `count × shapes[i].count`.
    public init(count: Int, shapes: [LatentShape], levels: [[Float]]) throws {
        try self.init(count: count, shapes: shapes, levels: levels, logdet: [], logp: [], objective: [], bpd: [])
    }

    /// Latents with the objective terms of an encoder (each empty or of `count` values).
    /// - Throws: `GlowError` when a count disagrees with the shapes.
    public init(count: Int, shapes: [LatentShape], levels: [[Float]],
                logdet: [Double], logp: [Double], objective: [Double], bpd: [Double]) throws {
        guard count >= 0 else { throw GlowError("latents: image count \(count) is negative") }
        guard shapes.count == levels.count, !shapes.isEmpty else {
            throw GlowError("latents: \(levels.count) levels for \(shapes.count) shapes")
        }
        for (i, (l, s)) in zip(levels, shapes).enumerated() where l.count != Sizes.product([count, s.count]) {
            throw GlowError("latent z.\(i): \(l.count) values but \(count) images of \(s) need "
                + (Sizes.product([count, s.count]).map(String.init) ?? "too many"))
        }
        for (name, v) in [("logdet", logdet), ("logp", logp), ("objective", objective), ("bpd", bpd)]
            where !v.isEmpty && v.count != count {
            throw GlowError("latents: \(v.count) \(name) values for \(count) images")
        }
        self.count = count; self.shapes = shapes; self.levels = levels
        self.logdet = logdet; self.logp = logp; self.objective = objective; self.bpd = bpd
    }

    /// The mean bits per dimension, or `nil` when there are no objective terms.
    public var meanBPD: Double? { bpd.isEmpty ? nil : bpd.reduce(0, +) / Double(bpd.count) }

    /// The latents of the images at `indices`, in that order (objective terms kept).
    /// - Throws: `GlowError` for an index outside `0..<count`.
    public func selecting(_ indices: [Int]) throws -> Latents {
        for i in indices where !(0 ..< count).contains(i) {
            throw GlowError("latents: image index \(i) outside 0..<\(count)")
        }
        let lv = zip(levels, shapes).map { l, s in indices.flatMap { l[$0 * s.count ..< ($0 + 1) * s.count] } }
        func pick(_ v: [Double]) -> [Double] { v.isEmpty ? [] : indices.map { v[$0] } }
        return try Latents(count: indices.count, shapes: shapes, levels: lv, logdet: pick(logdet), logp: pick(logp),
                           objective: pick(objective), bpd: pick(bpd))
    }

    /// The batches one after another. Objective terms are kept only when every batch has them.
    /// - Throws: `GlowError` when `batches` is empty or their shapes differ.
    public static func concatenating(_ batches: [Latents]) throws -> Latents {
        guard let first = batches.first else { throw GlowError("latents: nothing to concatenate") }
        for b in batches where b.shapes != first.shapes {
            throw GlowError("latents: cannot concatenate shapes \(b.shapes) and \(first.shapes)")
        }
        if batches.count == 1 { return first }
        let levels = first.shapes.indices.map { i in batches.flatMap { $0.levels[i] } }
        let full = batches.allSatisfy { !$0.bpd.isEmpty && !$0.logdet.isEmpty }
        return try Latents(count: batches.reduce(0) { $0 + $1.count }, shapes: first.shapes, levels: levels,
                           logdet: full ? batches.flatMap(\.logdet) : [], logp: full ? batches.flatMap(\.logp) : [],
                           objective: full ? batches.flatMap(\.objective) : [], bpd: full ? batches.flatMap(\.bpd) : [])
    }

    /// Per level, the mean over the images of each latent element: `count == 1`, no objective.
    /// - Throws: `GlowError` when there are no images.
    public func mean() throws -> Latents {
        guard count >= 1 else { throw GlowError("latents: the mean of no images") }
        let lv = zip(levels, shapes).map { l, s -> [Float] in
            var acc = [Double](repeating: 0, count: s.count)
            for n in 0 ..< count { for j in 0 ..< s.count { acc[j] += Double(l[n * s.count + j]) } }
            return acc.map { Float($0 / Double(count)) }
        }
        return try Latents(count: 1, shapes: shapes, levels: lv)
    }
}

/// The latent file that `glow-gpu encode` writes and `glow-gpu decode` reads (docs/glow-spec.md,
/// "Latent files"): a safetensors file holding `x` (the exact model input), `z.0 … z.{L-1}`,
/// and `logdet`, `logp`, `objective`, `bpd` ([N] each), with `__metadata__` `format`
/// `glow-gpu-latents/1` and the model's `config` JSON.
public enum LatentFile {
    /// The `format` tag in `__metadata__`.
    public static let format = "glow-gpu-latents/1"

    /// The file in memory. `x` (NCHW, `latents.count` images of the model's shape) is optional.
    /// - Throws: `GlowError` when `x` has the wrong size.
    public static func file(_ latents: Latents, x: [Float]?, config: GlowConfig) throws -> SafeTensorsFile {
        var f = SafeTensorsFile(metadata: ["format": format, "config": config.json()])
        let n = latents.count
        do {
            if let x {
                guard x.count == n * config.dimension else {
                    throw GlowError("latent file: x holds \(x.count) values, not \(n) images of "
                        + "\(config.channels)×\(config.height)×\(config.width)")
                }
                try f.add("x", shape: [n, config.channels, config.height, config.width], floats: x)
            }
            for (i, (l, s)) in zip(latents.levels, latents.shapes).enumerated() {
                try f.add("z.\(i)", shape: [n, s.channels, s.height, s.width], floats: l)
            }
            for (name, v) in [("logdet", latents.logdet), ("logp", latents.logp),
                              ("objective", latents.objective), ("bpd", latents.bpd)] where !v.isEmpty {
                try f.add(name, shape: [n], floats: v.map { Float($0) })
            }
        } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        return f
    }

    /// Writes the file atomically at `path`.
    public static func write(_ latents: Latents, x: [Float]?, config: GlowConfig, to path: String) throws {
        do { try file(latents, x: x, config: config).write(path: path) } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
    }

    /// Reads the latents of `path` for a model with `shapes` (`z.0 … z.{L-1}`), checking the
    /// format tag (when present), that every `z.i` exists with shape `[N, C_i, H_i, W_i]` with
    /// one N, and that there is no `z.L`. Returns the latents (with the objective terms when
    /// the file holds them) and `x` when present.
    /// - Throws: `GlowError` naming the file and the offending tensor.
    public static func read(path: String, shapes: [LatentShape]) throws -> (latents: Latents, x: [Float]?) {
        let f: SafeTensorsFile
        do { f = try SafeTensorsFile.read(path: path) } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        return try read(f, source: path, shapes: shapes)
    }

    /// `read(path:shapes:)` for a file already in memory; `source` names it in errors.
    public static func read(_ f: SafeTensorsFile, source: String, shapes: [LatentShape]) throws -> (latents: Latents, x: [Float]?) {
        if let tag = f.metadata["format"], tag != format {
            throw GlowError("\(source): format tag \"\(tag)\" is not \"\(format)\"; not a latent file")
        }
        let L = shapes.count
        guard let z0 = f["z.0"] else {
            throw GlowError("\(source): missing tensor 'z.0' (a latent file holds z.0 … z.\(L - 1))")
        }
        guard z0.shape.count == 4, z0.shape[0] >= 1 else {
            throw GlowError("\(source): tensor 'z.0' has shape \(z0.shape) but [N, C, H, W] with N ≥ 1 was expected")
        }
        let n = z0.shape[0]
        if f["z.\(L)"] != nil {
            throw GlowError("\(source): holds tensor 'z.\(L)' but the model has L = \(L) levels (z.0 … z.\(L - 1))")
        }
        var levels: [[Float]] = []
        for (i, s) in shapes.enumerated() {
            let name = "z.\(i)"
            guard let t = f[name] else {
                throw GlowError("\(source): missing tensor '\(name)' (the model has L = \(L) levels: z.0 … z.\(L - 1))")
            }
            let want = [n, s.channels, s.height, s.width]
            guard t.shape == want else {
                throw GlowError("\(source): tensor '\(name)' has shape \(t.shape) but the model needs \(want)")
            }
            guard let v = t.floats else {
                throw GlowError("\(source): tensor '\(name)' is \(t.data.dtype) but F32 was expected")
            }
            levels.append(v)
        }
        func scalars(_ name: String) throws -> [Double] {
            guard let t = f[name] else { return [] }
            guard t.shape == [n], let v = t.floats else {
                throw GlowError("\(source): tensor '\(name)' has shape \(t.shape) (\(t.data.dtype)) but F32 [\(n)] was expected")
            }
            return v.map(Double.init)
        }
        var x: [Float]?
        if let t = f["x"] {
            guard t.shape.count == 4, t.shape[0] == n, let v = t.floats else {
                throw GlowError("\(source): tensor 'x' has shape \(t.shape) (\(t.data.dtype)) but F32 [\(n), C, H, W] was expected")
            }
            x = v
        }
        let latents = try Latents(count: n, shapes: shapes, levels: levels, logdet: try scalars("logdet"),
                                  logp: try scalars("logp"), objective: try scalars("objective"), bpd: try scalars("bpd"))
        return (latents, x)
    }
}
