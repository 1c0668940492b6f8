import Foundation
import GlowCore

/// Images a model generated: 8-bit pixels in **NCHW** order (image, channel, row, column),
/// `count × channels × height × width` bytes, with the shape. Use `hwc(_:)` for one image
/// with interleaved channels (the order of most image libraries).
public struct GeneratedImages: Sendable, Equatable {
    /// Number of images.
    public let count: Int
    /// Channels per image (1 or 3).
    public let channels: Int
    /// Rows per image.
    public let height: Int
    /// Columns per image.
    public let width: Int
    /// All pixels, NCHW.
    public let pixels: [UInt8]
    /// The images whose values were not finite (a sample whose reverse pass overflowed
    /// Float32): their pixels are a crossed placeholder (`Preprocess.drawPlaceholder`).
    public var notFinite: [Int] = []

    /// Wraps pixels; the count must match the shape.
    /// - Throws: `GlowError` when `pixels.count != count · channels · height · width`.
    public init(count: Int, channels: Int, height: Int, width: Int, pixels: [UInt8]) throws {
        guard count >= 0, channels >= 1, height >= 1, width >= 1, pixels.count == Sizes.product([count, channels, height, width]) else {
            throw GlowError("images: \(pixels.count) pixels for \(count) images of \(channels)×\(height)×\(width)")
        }
        self.count = count; self.channels = channels; self.height = height; self.width = width; self.pixels = pixels
    }

    /// Image `index` as `height × width × channels` bytes (HWC, channels interleaved).
    /// - Throws: `GlowError` for an index outside `0..<count`.
    public func hwc(_ index: Int) throws -> [UInt8] {
        guard (0 ..< count).contains(index) else { throw GlowError("image index \(index) outside 0..<\(count)") }
        let hw = height * width, base = index * channels * hw
        var out = [UInt8](repeating: 0, count: channels * hw)
        for c in 0 ..< channels { for p in 0 ..< hw { out[p * channels + c] = pixels[base + c * hw + p] } }
        return out
    }

    /// The images as an unlabelled `ImageSet` (same NCHW layout).
    /// - Throws: `DataError` when there are no images' worth of shape (cannot happen for images a model made).
    public var imageSet: ImageSet {
        get throws { try ImageSet(count: count, channels: channels, height: height, width: width, pixels: pixels) }
    }

    /// Writes the images as one PNG grid (`ImageGrid`), `columns` per row (default ⌈√count⌉),
    /// with a white 1-pixel border.
    /// - Throws: `GlowError` when there are no images or `columns < 1`; `DataError` when writing fails.
    public func writePNGGrid(path: String, columns: Int? = nil) throws {
        guard count >= 1 else { throw GlowError("\(path): no images to write") }
        let cols = columns ?? Int(Double(count).squareRoot().rounded(.up))
        guard cols >= 1 else { throw GlowError("grid columns \(cols): must be at least 1") }
        try ImageGrid.write(path: path, images: pixels, count: count, channels: channels, height: height,
                            width: width, columns: cols)
    }
}

/// The device-specific part of `GlowModel`: a `Glow` on one backend, with host-array I/O.
protocol GlowRunner: AnyObject {
    var config: GlowConfig { get }
    var deviceName: String { get }
    var latentShapes: [LatentShape] { get }
    func encode(_ x: [Float], count: Int, labels: [Int]?) throws -> Latents
    func decode(_ levels: [[Float]], count: Int) throws -> [Float]
    func sample(count: Int, temperature: Float, seed: UInt64, labels: [Int]?) throws -> [Float]
}

final class Runner<B: Backend>: GlowRunner {
    let model: Glow<B>
    init(_ model: Glow<B>) { self.model = model }
    var config: GlowConfig { model.config }
    var deviceName: String { model.backend.name }
    var latentShapes: [LatentShape] { model.latentShapes.map { LatentShape(channels: $0.0, height: $0.1, width: $0.2) } }

    func encode(_ x: [Float], count: Int, labels: [Int]?) throws -> Latents {
        let c = config
        let t = try Tensor(model.backend, nchw: x, images: count, channels: c.channels, height: c.height, width: c.width)
        let e = try model.encode(t, labels: labels)
        return try Latents(count: count, shapes: latentShapes, levels: try e.latents.map { try $0.nchw() },
                           logdet: e.logdet, logp: e.logp, objective: e.objective, bpd: e.bpd)
    }

    func decode(_ levels: [[Float]], count: Int) throws -> [Float] {
        let zs = try zip(levels, latentShapes).map { v, s in
            try Tensor(model.backend, nchw: v, images: count, channels: s.channels, height: s.height, width: s.width)
        }
        return try model.decode(zs).nchw()
    }

    func sample(count: Int, temperature: Float, seed: UInt64, labels: [Int]?) throws -> [Float] {
        try model.sample(count: count, temperature: temperature, seed: seed, labels: labels).nchw()
    }
}

/// Opens the existential backend and loads the checkpoint onto it.
private func loadRunner<B: Backend>(_ backend: B, path: String) throws -> GlowRunner {
    Runner(try Checkpoint.load(path, backend: backend))
}

/// A trained Glow model ready to sample, encode and decode, on a device chosen by name.
///
/// This is the library's front door: it hides the backend type (`CPUBackend`,
/// `OpenCLBackend`) and takes and returns plain host arrays. Images go in and out either
/// as 8-bit pixels (`ImageSet`, `GeneratedImages`, NCHW) or as floats in the model's space
/// (NCHW, `x = ⌊p / 2^(8−n_bits)⌋ / 2^n_bits − 0.5`, see docs/glow-spec.md "Data and objective").
///
/// ```swift
/// import GlowGPU
/// let model = try GlowModel(checkpoint: "mnist.safetensors")          // device "auto"
/// let images = try model.sample(count: 16, temperature: 0.7, seed: 1)
/// try images.writePNGGrid(path: "samples.png")
/// ```
///
/// The reverse pass (sampling, decoding) uses the inverses of the 1×1 convolutions and the
/// ActNorm scales computed once when the model is loaded, not per call.
///
/// **Threads.** A `GlowModel` must be used from one thread at a time: its backend's command
/// queue and buffers are not synchronised, so concurrent calls on the same instance are a
/// data race. Separate instances (each loaded with its own `GlowModel(checkpoint:device:)`)
/// are independent and may run on different threads concurrently.
public final class GlowModel {
    let runner: GlowRunner

    /// The architecture read from the checkpoint.
    public var config: GlowConfig { runner.config }
    /// The backend's device name, e.g. `cpu` or the OpenCL device's name.
    public var deviceName: String { runner.deviceName }
    /// The shape of one image as the model sees it (after the checkpoint's padding).
    public var imageShape: (channels: Int, height: Int, width: Int) { (config.channels, config.height, config.width) }
    /// The per-image shapes of `z.0 … z.{L-1}`.
    public var latentShapes: [LatentShape] { runner.latentShapes }
    /// Images per device call when encoding or decoding many images.
    public var batchSize: Int = 64

    /// Loads the checkpoint at `path` onto the device `device` names: `auto` (a CUDA device
    /// when CUDA is usable, else an OpenCL GPU or accelerator, else the CPU), `cpu`, `cuda`,
    /// `cuda:N`, `opencl`, `opencl:N`, or a part of a device's name (see `glow-gpu devices`).
    /// `precision: .tf32` runs the coupling networks' convolutions on TF32 tensor cores
    /// (CUDA only).
    /// - Throws: `GlowError` naming the file and the problem (missing file, wrong format tag,
    ///   missing or misshapen tensor, bad config) or the device.
    public init(checkpoint path: String, device: String = BackendRegistry.auto, precision: GEMMPrecision = .fp32) throws {
        let backend = try DeviceSelector.open(device, precision: precision)
        runner = try loadRunner(backend, path: path)
    }

    /// Wraps a model already on a backend (e.g. one just trained or built in a test). Its
    /// ActNorms must be initialised.
    /// - Throws: `GlowError` when they are not.
    public init<B: Backend>(_ model: Glow<B>) throws {
        guard model.isInitialized else {
            throw GlowError("the model's ActNorms are not initialised: encode an initial batch with initialize: true first")
        }
        runner = Runner(model)
    }

    // MARK: Sampling

    /// Draws `count` images at `temperature` and returns them as 8-bit pixels (NCHW).
    ///
    /// - Parameters:
    ///   - count: images, at least 1.
    ///   - temperature: scale of the prior's standard deviations, ≥ 0 (0.7 is the paper's
    ///     choice; 0 gives the prior means).
    ///   - seed: the Philox seed; the same seed gives the same images on every device (up to
    ///     floating-point rounding).
    ///   - classLabel: the class to sample for a class-conditional model; must be `nil` for an
    ///     unconditional one (`config.classes == 0`).
    /// An image whose reverse pass overflowed Float32 (a high temperature, a model early in
    /// training) is named in `notFinite` and drawn as a crossed placeholder.
    /// - Throws: `GlowError` for a bad count, temperature or class label, or when every image
    ///   overflowed.
    public func sample(count: Int, temperature: Float = 0.7, seed: UInt64 = 0, classLabel: Int? = nil) throws -> GeneratedImages {
        let x = try sampleFloats(count: count, temperature: temperature, seed: seed, classLabel: classLabel)
        return try pixels(x, count: count)
    }

    /// Like `sample(count:temperature:seed:classLabel:)`, but returns the model-space floats,
    /// `count × C × H × W` in NCHW order (roughly in [-0.5, 0.5); not clamped). An image whose
    /// reverse pass overflowed Float32 holds non-finite values (`Preprocess.notFiniteImages`
    /// finds them); when every image does, this throws.
    public func sampleFloats(count: Int, temperature: Float = 0.7, seed: UInt64 = 0, classLabel: Int? = nil) throws -> [Float] {
        if let classLabel {
            if config.classes == 0 {
                throw GlowError("class label \(classLabel): this model is unconditional (config classes = 0); sample without a class")
            }
            guard (0 ..< config.classes).contains(classLabel) else {
                throw GlowError("class label \(classLabel): the model has classes 0…\(config.classes - 1)")
            }
        } else if config.classes > 0 {
            throw GlowError("this model is class-conditional (\(config.classes) classes): give a class label to sample")
        }
        guard count >= 1 else { throw GlowError("sample count \(count): must be at least 1") }
        guard temperature.isFinite, temperature >= 0 else { throw GlowError("temperature \(temperature): must be finite and ≥ 0") }
        // The latents, the images and the pixels of `count` images are held at once.
        try MemoryLimit.check(elements: [count, config.dimension, 12], bytesEach: 1, what: "sampling \(count) images")
        let x = try runner.sample(count: count, temperature: temperature, seed: seed,
                                  labels: classLabel.map { [Int](repeating: $0, count: count) })
        if Preprocess.notFiniteImages(x, imageSize: config.dimension).count == count {
            throw GlowError("sampling at temperature \(temperature) gave a non-finite value in every image: the reverse pass "
                + "overflowed Float32; the temperature is too large for this model (try 0.7 or lower)")
        }
        return x
    }

    // MARK: Encoding and decoding

    /// The model-space input for `images`: pixels to floats with the model's `n_bits`
    /// (`Preprocess.toModel`), after padding them by the checkpoint's `pad` when they have the
    /// unpadded size, plus, with `noise`, dequantisation noise `U(0, 1/2^n_bits)` from Philox
    /// with `seed` (stream 0). NCHW.
    /// - Throws: `GlowError` naming both shapes when the images do not fit the model.
    public func modelInput(_ images: ImageSet, noise: Bool = false, seed: UInt64 = 0) throws -> [Float] {
        let c = config
        var set = images
        if set.channels == c.channels, c.pad > 0, set.height + 2 * c.pad == c.height, set.width + 2 * c.pad == c.width {
            set = try ImageTransform.pad(set, by: c.pad)
        }
        guard set.channels == c.channels, set.height == c.height, set.width == c.width else {
            throw GlowError("the images are \(images.channels)×\(images.height)×\(images.width) but the model takes "
                + "\(c.channels)×\(c.height)×\(c.width)" + (c.pad > 0 ? " (including its padding of \(c.pad) on each side)" : ""))
        }
        var x = try Preprocess.toModel(pixels: set.pixels, nBits: c.nBits)
        if noise {
            let u = Philox.array(count: x.count, distribution: .uniform(low: 0, high: 1 / Float(1 << c.nBits)), seed: seed, stream: 0)
            for i in x.indices { x[i] += u[i] }
        }
        return x
    }

    /// Encodes 8-bit images (the model's size, or the size before the checkpoint's padding)
    /// to their latents and per-image objective; see `modelInput(_:noise:seed:)`. A
    /// class-conditional model takes the images' labels.
    public func encode(_ images: ImageSet, noise: Bool = false, seed: UInt64 = 0) throws -> Latents {
        try encode(floats: modelInput(images, noise: noise, seed: seed), count: images.count,
                   labels: config.classes > 0 ? images.labels : nil)
    }

    /// Encodes `count` images given as model-space floats (NCHW, `count × C × H × W`), in
    /// batches of `batchSize`; `labels` (one per image) for a class-conditional model.
    /// - Throws: `GlowError` when the float count does not match.
    public func encode(floats x: [Float], count: Int, labels: [Int]? = nil) throws -> Latents {
        let d = config.dimension
        guard count >= 1 else { throw GlowError("encode: image count \(count) must be at least 1") }
        guard x.count == Sizes.product([count, d]) else {
            throw GlowError("encode: \(x.count) values are not \(count) images of \(config.channels)×\(config.height)×\(config.width)")
        }
        var parts: [Latents] = []
        for start in stride(from: 0, to: count, by: max(1, batchSize)) {
            let n = min(max(1, batchSize), count - start)
            parts.append(try runner.encode(Array(x[start * d ..< (start + n) * d]), count: n,
                                           labels: labels.map { Array($0[start ..< min($0.count, start + n)]) }))
        }
        return try Latents.concatenating(parts)
    }

    /// Decodes latents (shapes `latentShapes`) to model-space floats, NCHW, in batches of `batchSize`.
    /// - Throws: `GlowError` naming the first latent whose shape does not fit the model.
    public func decode(_ latents: Latents) throws -> [Float] {
        try checkShapes(latents)
        guard latents.count >= 1 else { throw GlowError("decode: no images") }
        for (i, level) in latents.levels.enumerated() {
            if let bad = level.firstIndex(where: { !$0.isFinite }) {
                throw GlowError("decode: latent z.\(i) of image \(bad / max(1, latents.shapes[i].count)) holds a non-finite value")
            }
        }
        var out: [Float] = []
        out.reserveCapacity(latents.count * config.dimension)
        for start in stride(from: 0, to: latents.count, by: max(1, batchSize)) {
            let n = min(max(1, batchSize), latents.count - start)
            let levels = zip(latents.levels, latents.shapes).map { l, s in Array(l[start * s.count ..< (start + n) * s.count]) }
            out += try runner.decode(levels, count: n)
        }
        if let bad = out.firstIndex(where: { !$0.isFinite }) {
            throw GlowError("decode: image \(bad / config.dimension) came out non-finite: its latents are too large for the model's inverse")
        }
        return out
    }

    /// Decodes latents to 8-bit images (NCHW), via `Preprocess.toPixels`.
    public func decodePixels(_ latents: Latents) throws -> GeneratedImages {
        try pixels(decode(latents), count: latents.count)
    }

    /// Model-space floats (NCHW, `count` images) to 8-bit images with the model's `n_bits`.
    public func pixels(_ x: [Float], count: Int) throws -> GeneratedImages {
        guard count >= 0, x.count == Sizes.product([count, config.dimension]) else {
            throw GlowError("\(x.count) values are not \(count) images of \(config.channels)×\(config.height)×\(config.width)")
        }
        let c = config
        let (pixels, bad) = try Preprocess.toPixels(x, nBits: c.nBits, channels: c.channels, height: c.height, width: c.width)
        var images = try GeneratedImages(count: count, channels: c.channels, height: c.height, width: c.width, pixels: pixels)
        images.notFinite = bad
        return images
    }

    func checkShapes(_ latents: Latents) throws {
        let want = latentShapes
        guard latents.shapes.count == want.count else {
            throw GlowError("latents have \(latents.shapes.count) levels but the model has L = \(want.count) (z.0 … z.\(want.count - 1))")
        }
        for (i, (s, w)) in zip(latents.shapes, want).enumerated() where s != w {
            throw GlowError("latent z.\(i) is \(s) per image but the model needs \(w)")
        }
    }

    // MARK: Latent-space operations

    /// Linear interpolation between the latents of two images (`a` and `b`, one image
    /// each), at every level: `z(t) = (1 − t)·a + t·b` for `t = 0, 1/(steps−1), …, 1`.
    /// Returns `steps` images' latents; the first is exactly `a`, the last exactly `b`.
    /// - Throws: `GlowError` when `steps < 2` or `a`, `b` are not single images of one shape.
    public func interpolate(_ a: Latents, _ b: Latents, steps: Int) throws -> Latents {
        guard steps >= 2 else { throw GlowError("interpolation steps \(steps): must be at least 2") }
        try MemoryLimit.check(elements: [steps, config.dimension, 12], bytesEach: 1, what: "interpolation in \(steps) steps")
        guard a.count == 1, b.count == 1, a.shapes == b.shapes else {
            throw GlowError("interpolation needs the latents of one image at each end")
        }
        let levels = a.levels.indices.map { i -> [Float] in
            var out: [Float] = []
            for k in 0 ..< steps {
                let t = Float(k) / Float(steps - 1)
                if k == 0 { out += a.levels[i] } else if k == steps - 1 { out += b.levels[i] } else {
                    out += zip(a.levels[i], b.levels[i]).map { (1 - t) * $0 + t * $1 }
                }
            }
            return out
        }
        return try Latents(count: steps, shapes: a.shapes, levels: levels)
    }

    /// Encodes images `from` and `to` of `images` (no noise), interpolates their latents in
    /// `steps` steps (`interpolate(_:_:steps:)`) and decodes them: one row of images whose
    /// ends are the two reconstructions.
    public func interpolate(images: ImageSet, from: Int, to: Int, steps: Int) throws -> GeneratedImages {
        for i in [from, to] where !(0 ..< images.count).contains(i) {
            throw GlowError("image index \(i): the set holds \(images.count) images (0…\(images.count - 1))")
        }
        let z = try encode(try images.subset([from, to]))
        return try decodePixels(interpolate(try z.selecting([0]), try z.selecting([1]), steps: steps))
    }

    /// The attribute direction for `label`: per level, the mean latent of the first `count`
    /// images of `images` labelled `label` minus the mean latent of the first `count` images
    /// with any other label (no noise). When fewer than `count` exist, all there are are used.
    /// Returns one image's latents (`count == 1`) and how many images of each group were used.
    /// - Throws: `GlowError` when the set has no labels, or either group is empty.
    public func manipulationDirection(images: ImageSet, label: Int, count: Int) throws
        -> (direction: Latents, withLabel: Int, withoutLabel: Int) {
        guard let labels = images.labels else {
            throw GlowError("manipulation needs labelled images; this image set has none")
        }
        guard count >= 1 else { throw GlowError("manipulation count \(count): must be at least 1") }
        let with = Array(labels.indices.filter { labels[$0] == label }.prefix(count))
        let without = Array(labels.indices.filter { labels[$0] != label }.prefix(count))
        guard !with.isEmpty else { throw GlowError("label \(label): no image in the set has this label") }
        guard !without.isEmpty else { throw GlowError("label \(label): every image in the set has this label; nothing to contrast") }
        let mw = try encode(try images.subset(with)).mean()
        let mo = try encode(try images.subset(without)).mean()
        let d = try Latents(count: 1, shapes: mw.shapes,
                            levels: zip(mw.levels, mo.levels).map { zip($0, $1).map { $0 - $1 } })
        return (d, with.count, without.count)
    }

    /// `z + α·direction` for each α, as latents of `alphas.count` images; `z` and
    /// `direction` hold one image each.
    public func shift(_ z: Latents, along direction: Latents, alphas: [Float]) throws -> Latents {
        guard z.count == 1, direction.count == 1, z.shapes == direction.shapes else {
            throw GlowError("manipulation needs the latents of one image and a one-image direction of the same shape")
        }
        guard !alphas.isEmpty else { throw GlowError("manipulation needs at least one alpha") }
        guard alphas.allSatisfy(\.isFinite) else { throw GlowError("manipulation alphas must be finite") }
        let levels = z.levels.indices.map { i in
            alphas.flatMap { a in zip(z.levels[i], direction.levels[i]).map { $0 + a * $1 } }
        }
        return try Latents(count: alphas.count, shapes: z.shapes, levels: levels)
    }

    /// Encodes image `index` of `images` and decodes it shifted along `direction` by each α
    /// (`shift(_:along:alphas:)`): one row of images; α = 0 is the reconstruction.
    public func manipulate(images: ImageSet, index: Int, direction: Latents, alphas: [Float]) throws -> GeneratedImages {
        guard (0 ..< images.count).contains(index) else {
            throw GlowError("image index \(index): the set holds \(images.count) images (0…\(images.count - 1))")
        }
        let z = try encode(try images.subset([index]))
        return try decodePixels(shift(z, along: direction, alphas: alphas))
    }
}
