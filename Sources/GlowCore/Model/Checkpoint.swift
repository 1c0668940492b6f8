import Foundation

/// Saving and loading a model as one safetensors file (docs/glow-spec.md, "Checkpoint").
public enum Checkpoint {
    /// The `format` tag in `__metadata__`.
    public static let format = "glow-gpu/1"

    /// The model as a safetensors file in memory.
    public static func file<B>(_ model: Glow<B>) throws -> SafeTensorsFile {
        guard model.isInitialized else {
            throw GlowError("the model's ActNorms were never initialised from data; such a checkpoint is not saved")
        }
        var f = SafeTensorsFile(metadata: ["format": format, "config": model.config.json()])
        for p in model.parameters {
            let v = try model.backend.download(p.value)
            guard v.allSatisfy(\.isFinite) else { throw GlowError("\(p.name) holds a non-finite value; checkpoint not written") }
            try f.add(p.name, shape: p.shape, floats: v)
        }
        for level in model.levels {
            for step in level.steps {
                if let perm = step.permutation, let name = perm.name {
                    try f.add(name, shape: [perm.indices.count], ints: perm.indices.map(Int64.init))
                }
            }
        }
        return f
    }

    /// Writes `model` to `path` atomically.
    public static func save<B>(_ model: Glow<B>, to path: String) throws {
        try file(model).write(path: path)
    }

    /// The configuration stored in a checkpoint file.
    public static func config(of file: SafeTensorsFile, source: String) throws -> GlowConfig {
        guard let tag = file.metadata["format"] else {
            throw GlowError("\(source): no \"format\" in __metadata__; not a glow-gpu checkpoint")
        }
        guard tag == format else { throw GlowError("\(source): format tag \"\(tag)\" is not \"\(format)\"") }
        guard let json = file.metadata["config"] else { throw GlowError("\(source): no \"config\" in __metadata__") }
        return try GlowConfig.parse(json: json, source: source)
    }

    /// Loads a model from `path` onto `backend`, checking the format tag, every tensor's
    /// name, shape and dtype.
    public static func load<B>(_ path: String, backend: B) throws -> Glow<B> {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile.read(path: path) } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        return try load(file, source: path, backend: backend)
    }

    /// Loads a model from a file already read.
    public static func load<B>(_ file: SafeTensorsFile, source: String, backend: B) throws -> Glow<B> {
        let config = try config(of: file, source: source)
        // The file must hold the weights its config describes, so their count is bounded by
        // the file before a model of that config is allocated (a hostile config can ask for
        // terabytes while the file is tiny).
        let stored = file.tensors.reduce(0) { $0 + ($1.floats?.count ?? 0) }
        guard let least = minimumParameterCount(config), least <= stored else {
            throw GlowError("\(source): its config (K=\(config.K), L=\(config.L), hidden=\(config.hidden), "
                + "\(config.channels) channels) needs more weights than the \(stored) floats the file holds")
        }
        let model: Glow<B>
        do { model = try Glow(config: config, backend: backend) } catch let e as GlowError { throw GlowError("\(source): \(e.message)") }
        var expected = Set(model.parameters.map(\.name))
        for level in model.levels { for step in level.steps { if let n = step.permutation?.name { expected.insert(n) } } }
        let extra = file.tensors.map(\.name).filter { !expected.contains($0) }
        if !extra.isEmpty {
            throw GlowError("\(source): tensor\(extra.count > 1 ? "s" : "") \(extra.prefix(3).map { "'\($0)'" }.joined(separator: ", "))"
                + "\(extra.count > 3 ? " and \(extra.count - 3) more" : "") not part of the model its config describes "
                + "(K=\(config.K), L=\(config.L), lu=\(config.lu), permutation \(config.permutation.rawValue))")
        }
        do {
            for p in model.parameters {
                let v = try file.requireFloats(p.name, shape: p.shape)
                guard v.allSatisfy(\.isFinite) else { throw GlowError("\(source): tensor '\(p.name)' holds a non-finite value") }
                try backend.upload(v, to: p.value, offset: 0)
            }
            for level in model.levels {
                for step in level.steps {
                    if let perm = step.permutation, let name = perm.name {
                        let idx = try file.requireInts(name, shape: [perm.indices.count])
                        do { try perm.setIndices(idx.map { Int($0) }) } catch let e as GlowError { throw GlowError("\(source): \(e.message)") }
                    }
                }
            }
        } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        for a in model.actnorms { a.initialized = true }
        do { try model.refresh() } catch let e as GlowError { throw GlowError("\(source): \(e.message)") }
        return model
    }

    /// A lower bound on the float parameters of a model of `config`, computed with checked
    /// arithmetic: per flow step of level `i` (C = channels · 4 · 2^i), the ActNorm's 2C, the
    /// coupling network's first 3×3 convolution (≥ hidden · C/2 · 9) and its hidden × hidden
    /// 1×1 convolution. `nil` when it overflows `Int` (no file can hold that many).
    static func minimumParameterCount(_ config: GlowConfig) -> Int? {
        guard config.L >= 1, config.L <= 62, config.K >= 0, config.hidden >= 0, config.channels >= 0 else { return nil }
        var total = 0
        for i in 0 ..< config.L {
            guard let c = Sizes.product(config.channels, 4, 1 << i),
                  let actnorm = Sizes.product(2, c),
                  let conv1 = Sizes.product(config.hidden, c / 2, 9),
                  let conv2 = Sizes.product(config.hidden, config.hidden) else { return nil }
            let (a, o1) = actnorm.addingReportingOverflow(conv1)
            let (b, o2) = a.addingReportingOverflow(conv2)
            guard !o1, !o2, let level = Sizes.product(config.K, b) else { return nil }
            let (t, o3) = total.addingReportingOverflow(level)
            if o3 { return nil }
            total = t
        }
        return total
    }
}
