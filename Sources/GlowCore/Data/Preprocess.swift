import Foundation

/// Conversion between 8-bit pixels and the model's input space.
///
/// With `nBits` bits per sample (1...8), a pixel `p` is quantised to
/// `q = ⌊p / 2^(8−nBits)⌋` and mapped to `x = q / 2^nBits − 0.5`, in `[−0.5, 0.5)`.
public enum Preprocess {
    /// Maps pixels to model space: `⌊p / 2^(8−nBits)⌋ / 2^nBits − 0.5` for each pixel.
    /// - Throws: `GlowError` when `nBits` is outside 1…8.
    public static func toModel(pixels: [UInt8], nBits: Int) throws -> [Float] {
        try pixels.withUnsafeBufferPointer { try toModel($0, nBits: nBits) }
    }

    /// Maps pixels to model space: `⌊p / 2^(8−nBits)⌋ / 2^nBits − 0.5` for each pixel.
    /// - Throws: `GlowError` when `nBits` is outside 1…8.
    public static func toModel(pixels: ArraySlice<UInt8>, nBits: Int) throws -> [Float] {
        try pixels.withUnsafeBufferPointer { try toModel($0, nBits: nBits) }
    }

    /// Maps model-space values back to pixels: `q = clamp(⌊(x + 0.5) · 2^nBits⌋, 0, 2^nBits − 1)`,
    /// then `p = clamp(q · 2^(8−nBits), 0, 255)`. NaN maps to 0. Inverts `toModel` exactly
    /// on its outputs: `toPixels(toModel(p)) == p` with the low `8 − nBits` bits cleared.
    /// - Throws: `GlowError` when `nBits` is outside 1…8.
    public static func toPixels(_ x: [Float], nBits: Int) throws -> [UInt8] {
        try checkBits(nBits)
        let bins = Float(1 << nBits)
        let maxBin = bins - 1
        let shift = 8 - nBits
        return x.map { v in
            // A tolerance of 1/1000 of a bin: a value decoded to a hair below its bin's lower
            // edge (Float32 round-off through the flow) keeps its level.
            let scaled = ((v + 0.5) * bins + 1e-3).rounded(.down)
            let q = scaled.isNaN ? 0 : min(maxBin, max(0, scaled))
            return UInt8(min(255, Int(q) << shift))
        }
    }

    /// The images of `x` (NCHW, `imageSize` values each) that hold a non-finite value: their
    /// reverse pass overflowed Float32.
    public static func notFiniteImages(_ x: [Float], imageSize: Int) -> [Int] {
        guard imageSize > 0 else { return [] }
        return (0 ..< x.count / imageSize).filter { i in x[(i * imageSize) ..< ((i + 1) * imageSize)].contains { !$0.isFinite } }
    }

    /// `toPixels` of `count` images (NCHW), with every image that holds a non-finite value
    /// drawn as a marked placeholder (`drawPlaceholder`) instead; returns which images those were.
    public static func toPixels(_ x: [Float], nBits: Int, channels: Int, height: Int, width: Int) throws
        -> (pixels: [UInt8], notFinite: [Int]) {
        let size = channels * height * width
        var pixels = try toPixels(x, nBits: nBits)
        let bad = notFiniteImages(x, imageSize: size)
        for i in bad { drawPlaceholder(&pixels, image: i, channels: channels, height: height, width: width) }
        return (pixels, bad)
    }

    /// Overwrites image `image` of `pixels` (NCHW) with a placeholder that cannot be taken for
    /// a sample: a dark grey cell crossed by its two diagonals in white (in red on colour
    /// images), for a sample whose values are not finite.
    public static func drawPlaceholder(_ pixels: inout [UInt8], image: Int, channels: Int, height: Int, width: Int) {
        let base = image * channels * height * width
        for c in 0 ..< channels {
            for y in 0 ..< height {
                for x in 0 ..< width {
                    // On a diagonal when x/width and y/height agree (or mirror) to within a pixel.
                    let onDiagonal = abs(x * height - y * width) < max(width, height)
                        || abs((width - 1 - x) * height - y * width) < max(width, height)
                    let line: UInt8 = channels == 3 && c > 0 ? 0 : 255
                    pixels[base + (c * height + y) * width + x] = onDiagonal ? line : 48
                }
            }
        }
    }

    private static func checkBits(_ nBits: Int) throws {
        guard (1 ... 8).contains(nBits) else { throw GlowError("n_bits \(nBits): must be 1…8") }
    }

    private static func toModel(_ pixels: UnsafeBufferPointer<UInt8>, nBits: Int) throws -> [Float] {
        try checkBits(nBits)
        let shift = UInt8(8 - nBits)
        let scale = 1 / Float(1 << nBits)
        return [Float](unsafeUninitializedCapacity: pixels.count) { out, initialized in
            for i in 0 ..< pixels.count {
                out[i] = Float(pixels[i] >> shift) * scale - 0.5
            }
            initialized = pixels.count
        }
    }
}
