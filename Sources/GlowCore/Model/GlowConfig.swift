import Foundation

/// The architecture of a Glow model (docs/glow-spec.md, "Checkpoint" and "Reference configurations").
public struct GlowConfig: Equatable, Sendable {
    /// How the coupling layer transforms the second half.
    public enum Coupling: String, Sendable, CaseIterable { case affine, additive }
    /// The channel mixing of each step.
    public enum Permutation: String, Sendable, CaseIterable { case invconv, reverse, shuffle }

    /// Image channels as the model sees them.
    public var channels: Int
    /// Image height (after padding).
    public var height: Int
    /// Image width (after padding).
    public var width: Int
    /// Steps of flow per level.
    public var K: Int
    /// Levels.
    public var L: Int
    /// Width of the coupling network.
    public var hidden: Int
    /// Affine or additive coupling.
    public var coupling: Coupling
    /// invconv, reverse or shuffle.
    public var permutation: Permutation
    /// LU-decomposed 1×1 convolution.
    public var lu: Bool
    /// Learned top prior.
    public var learnTop: Bool
    /// Classes for class conditioning; 0 = unconditional.
    public var classes: Int
    /// Bits per colour channel.
    public var nBits: Int
    /// Pixels of padding added on each side (already included in height and width).
    public var pad: Int
    /// Batch size the configuration is meant for (not part of the checkpoint's config).
    public var batch: Int

    /// A configuration; call `validate()` before use.
    public init(channels: Int, height: Int, width: Int, K: Int, L: Int, hidden: Int,
                coupling: Coupling = .affine, permutation: Permutation = .invconv, lu: Bool = true,
                learnTop: Bool = true, classes: Int = 0, nBits: Int = 8, pad: Int = 0, batch: Int = 16) {
        self.channels = channels; self.height = height; self.width = width
        self.K = K; self.L = L; self.hidden = hidden; self.coupling = coupling; self.permutation = permutation
        self.lu = lu; self.learnTop = learnTop; self.classes = classes; self.nBits = nBits; self.pad = pad
        self.batch = batch
    }

    /// The spec's named configurations: `tiny`, `mnist`, `paper`.
    public static func named(_ name: String) throws -> GlowConfig {
        switch name {
        case "tiny": return GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 16, batch: 8)
        case "mnist": return GlowConfig(channels: 1, height: 28, width: 28, K: 16, L: 2, hidden: 256, batch: 64)
        case "paper": return GlowConfig(channels: 3, height: 32, width: 32, K: 32, L: 3, hidden: 512, batch: 16)
        default: throw GlowError.invalid(.config, value: "\(name)", expected: "unknown configuration; choose tiny, mnist or paper")
        }
    }

    /// The classification loss's weight in the training objective of class-conditional
    /// models (the official code's y_weight).
    public static let classWeight = 0.01

    /// D = C·H·W.
    public var dimension: Int { channels * height * width }

    /// Channels inside level `i` (after its squeeze): `C · 4 · 2^i`.
    public func levelChannels(_ i: Int) -> Int { channels * 4 << i }
    /// Height inside level `i`.
    public func levelHeight(_ i: Int) -> Int { height >> (i + 1) }
    /// Width inside level `i`.
    public func levelWidth(_ i: Int) -> Int { width >> (i + 1) }
    /// Channels of the top latent.
    public var topChannels: Int { levelChannels(L - 1) }

    /// Checks every field; the error names the first bad one.
    public func validate() throws {
        func bad(_ field: String, _ why: GlowError.Message) -> GlowError { GlowError("config \(field): \(why)") }
        if channels < 1 { throw bad("channels", "\(channels), must be at least 1") }
        if K < 1 { throw bad("K", "\(K), must be at least 1 step per level") }
        if L < 1 { throw bad("L", "\(L), must be at least 1 level") }
        if L > 8 { throw bad("L", "\(L), at most 8 levels") }
        if hidden < 1 { throw bad("hidden", "\(hidden), must be at least 1") }
        if height < 1 || width < 1 { throw bad("image_shape", "\(height)×\(width) is empty") }
        let f = 1 << L
        if height % f != 0 || width % f != 0 {
            throw bad("image_shape", "\(height)×\(width) with L=\(L): height and width must divide by 2^L = \(f)"
                + " (MNIST 28×28 takes L ≤ 2; \(Setting.pad) 2 gives 32×32)")
        }
        if classes < 0 { throw bad("classes", "\(classes), must be 0 (unconditional) or more") }
        if !(1...8).contains(nBits) { throw bad("n_bits", "\(nBits), must be 1…8") }
        if pad < 0 { throw bad("pad", "\(pad), must be 0 or more") }
        if batch < 1 { throw bad("batch", "\(batch), must be at least 1") }
        // Upper bounds: every size derived below must be computable in an Int, and one image
        // and the parameters must fit in this machine's memory (a checkpoint or an option asking
        // for K = 10⁹ or hidden = 10⁷ is refused here, before anything is built).
        guard let d = Sizes.product([channels, height, width, 4]) else {
            throw bad("image_shape", "\(channels)×\(height)×\(width) is past the largest integer")
        }
        do { try MemoryLimit.check(bytes: d, what: "one \(channels)×\(height)×\(width) image") } catch let e as GlowError {
            throw bad("image_shape", e.text)
        }
        guard let bytes = estimatedModelBytes() else {
            throw bad("K/L/hidden/classes", "K=\(K) L=\(L) hidden=\(hidden) classes=\(classes): the parameter count is past the largest integer")
        }
        do { try MemoryLimit.check(bytes: bytes, what: "the parameters of K=\(K) L=\(L) hidden=\(hidden)") } catch let e as GlowError {
            throw bad("K/L/hidden", e.text)
        }
    }

    /// A lower estimate of the model's host memory in bytes: per step of level i (c = channels
    /// at that level, h = hidden) the 1×1 convolution's c², the coupling's h² and about 13·c·h
    /// weights, 4 bytes each, plus 4 KiB of per-layer bookkeeping; the class-conditional prior's
    /// classes × 2·c_top weights. Nil when it overflows.
    func estimatedModelBytes() -> Int? {
        var total = 0
        for i in 0 ..< L {
            guard let c = Sizes.product([channels, 4, 1 << i]),
                  let perStep = MemoryLimit.sum([Sizes.product([c, c]), Sizes.product([hidden, hidden]),
                                                 Sizes.product([13, c, hidden]), 1024]),
                  let level = Sizes.product([K, perStep, 4]),
                  let t = MemoryLimit.sum([total, level]) else { return nil }
            total = t
        }
        guard let top = Sizes.product([channels, 4, 1 << (L - 1), 2, classes, 4]) else { return nil }
        return MemoryLimit.sum([total, top])
    }

    /// The `"config"` JSON string of the checkpoint's `__metadata__`.
    public func json() -> String {
        let obj: [String: Any] = [
            "image_shape": [channels, height, width], "K": K, "L": L, "hidden": hidden,
            "coupling": coupling.rawValue, "permutation": permutation.rawValue, "lu": lu,
            "learn_top": learnTop, "classes": classes, "n_bits": nBits, "pad": pad,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses the checkpoint's config JSON; `source` names the file in errors.
    public static func parse(json: String, source: String) throws -> GlowConfig {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw GlowError("\(source): the \"config\" metadata is not a JSON object")
        }
        func int(_ k: String) throws -> Int {
            guard let v = obj[k] as? NSNumber, let i = Int(exactly: v.doubleValue) else {
                throw GlowError("\(source): config key \"\(k)\" is missing or not an integer")
            }
            return i
        }
        func bool(_ k: String) throws -> Bool {
            guard let v = obj[k] as? Bool else { throw GlowError("\(source): config key \"\(k)\" is missing or not a boolean") }
            return v
        }
        func string(_ k: String) throws -> String {
            guard let v = obj[k] as? String else { throw GlowError("\(source): config key \"\(k)\" is missing or not a string") }
            return v
        }
        guard let shape = obj["image_shape"] as? [NSNumber], shape.count == 3,
              shape.allSatisfy({ Double($0.intValue) == $0.doubleValue }) else {
            throw GlowError("\(source): config key \"image_shape\" is missing or not [C, H, W] of integers")
        }
        guard let coupling = Coupling(rawValue: try string("coupling")) else {
            throw GlowError("\(source): config coupling \"\(try string("coupling"))\" is not affine or additive")
        }
        guard let perm = Permutation(rawValue: try string("permutation")) else {
            throw GlowError("\(source): config permutation \"\(try string("permutation"))\" is not invconv, reverse or shuffle")
        }
        let c = GlowConfig(channels: shape[0].intValue, height: shape[1].intValue, width: shape[2].intValue,
                           K: try int("K"), L: try int("L"), hidden: try int("hidden"), coupling: coupling,
                           permutation: perm, lu: try bool("lu"), learnTop: try bool("learn_top"),
                           classes: try int("classes"), nBits: try int("n_bits"), pad: try int("pad"))
        do { try c.validate() } catch let e as GlowError { throw GlowError("\(source): \(e.message)") }
        return c
    }
}
