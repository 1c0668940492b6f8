import Foundation
import CLibPNG

/// PNG encoding and decoding in memory (for `glow-gpu serve`, whose images travel over HTTP),
/// with libpng's simplified API as in `PNGImage.read(path:channels:)` and
/// `PNGImage.write(path:width:height:channels:pixels:)`: every libpng failure becomes a
/// `DataError`, and the size in a PNG's header is checked before its pixels are allocated.
extension PNGImage {
    /// Encodes 8-bit gray (`channels == 1`) or RGB (`channels == 3`) pixels, `height × width ×
    /// channels` bytes, row-major with channels interleaved (HWC), as a PNG file's bytes.
    /// - Throws: `DataError` for bad arguments or when libpng fails.
    /// `path` only names the file in errors (`write(path:…)` encodes through here).
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8], path: String? = nil) throws -> [UInt8] {
        guard channels == 1 || channels == 3 else {
            throw DataError(path: path, problem: "cannot \(path == nil ? "encode" : "write") a PNG with \(channels) channels, expected 1 or 3")
        }
        guard width > 0, height > 0, width <= Int(Int32.max) / channels, height <= Int(Int32.max) else {
            throw DataError(path: path, problem: "bad PNG size \(width)×\(height)")
        }
        guard pixels.count == width * height * channels else {
            throw DataError(path: path, problem: "\(pixels.count) pixel bytes given for a \(width)×\(height)×\(channels) image "
                + "(\(width * height * channels) bytes)")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        var size = 0
        var ok = pixels.withUnsafeBytes { buffer in
            png_image_write_to_memory(&image, nil, &size, 0, buffer.baseAddress, Int32(width * channels), nil)
        }
        var encoded = [UInt8](repeating: 0, count: ok != 0 ? size : 0)
        if ok != 0 {
            ok = pixels.withUnsafeBytes { buffer in
                encoded.withUnsafeMutableBytes { out in
                    png_image_write_to_memory(&image, out.baseAddress, &size, 0, buffer.baseAddress, Int32(width * channels), nil)
                }
            }
        }
        let problem = memoryMessage(of: &image)
        png_image_free(&image)
        guard ok != 0 else { throw DataError(path: path, problem: "cannot \(path == nil ? "encode" : "write") PNG: \(problem)") }
        return Array(encoded.prefix(size))
    }

    /// Reads only the header of PNG `bytes`: the size and the channels `decode` keeps by default
    /// (1 for gray files, 3 for colour and palette files).
    /// - Throws: `DataError` when the bytes do not start a readable PNG.
    public static func header(bytes: [UInt8]) throws -> (width: Int, height: Int, channels: Int) {
        try bytes.withUnsafeBytes { raw in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            try begin(&image, raw)
            return (Int(image.width), Int(image.height), (image.format & UInt32(PNG_FORMAT_FLAG_COLOR)) != 0 ? 3 : 1)
        }
    }

    /// Decodes PNG `bytes` to 8-bit gray or RGB, as `read(path:channels:)` reads a file (alpha
    /// dropped, 16-bit scaled to 8), refusing images of more than `maxPixels` pixels before
    /// anything is allocated.
    ///
    /// - Parameters:
    ///   - bytes: the PNG file's bytes.
    ///   - channels: 1 or 3 to convert to gray or RGB, or `nil` to keep the file's kind.
    ///   - maxPixels: the largest `width × height` accepted.
    /// - Returns: the size, the channel count and `height × width × channels` bytes (HWC).
    /// - Throws: `DataError` naming the problem: not a PNG, corrupt, or larger than `maxPixels`.
    public static func decode(bytes: [UInt8], channels: Int? = nil, maxPixels: Int = 1 << 24)
        throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        if let channels, channels != 1, channels != 3 {
            throw DataError(path: nil, problem: "cannot decode a PNG as \(channels) channels, expected 1 or 3")
        }
        return try bytes.withUnsafeBytes { raw in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            try begin(&image, raw)
            let width = Int(image.width), height = Int(image.height)
            guard let pixelCount = Sizes.product(width, height), pixelCount <= maxPixels else {
                throw DataError(path: nil, problem: "the PNG is \(width)×\(height) pixels, more than the \(maxPixels) accepted")
            }
            // One bit per pixel and a filter byte per row at deflate's best ratio: a header
            // claiming more than the data can hold is corrupt (checked before allocating).
            let minimumRaw = Sizes.product(height, 1 + (width + 7) / 8) ?? Int.max
            let possible = Sizes.product(raw.count, ReadLimits.maxDeflateRatio) ?? Int.max
            guard minimumRaw <= possible else {
                throw DataError(path: nil, problem: "corrupt PNG: its header says \(width)×\(height) pixels, more than its \(raw.count) bytes can hold")
            }
            let colourFlag = UInt32(PNG_FORMAT_FLAG_COLOR), alphaFlag = UInt32(PNG_FORMAT_FLAG_ALPHA)
            let outChannels = channels ?? ((image.format & colourFlag) != 0 ? 3 : 1)
            let hasAlpha = (image.format & alphaFlag) != 0
            let readChannels = outChannels + (hasAlpha ? 1 : 0)
            image.format = (outChannels == 3 ? colourFlag : 0) | (hasAlpha ? alphaFlag : 0)
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            var buffer = [UInt8](repeating: 0, count: pixelCount * readChannels)
            let ok = buffer.withUnsafeMutableBytes { out in
                png_image_finish_read(&image, nil, out.baseAddress, Int32(width * readChannels), nil)
            }
            guard ok != 0 else { throw DataError(path: nil, problem: "corrupt PNG: \(memoryMessage(of: &image))") }
            guard hasAlpha else { return (width, height, outChannels, buffer) }
            var pixels = [UInt8](repeating: 0, count: pixelCount * outChannels)
            for p in 0 ..< pixelCount {
                for c in 0 ..< outChannels { pixels[p * outChannels + c] = buffer[p * readChannels + c] }
            }
            return (width, height, outChannels, pixels)
        }
    }

    /// `png_image_begin_read_from_memory`, with its failure as a `DataError`.
    private static func begin(_ image: inout png_image, _ raw: UnsafeRawBufferPointer) throws {
        // The PNG signature is checked here so that empty input never reaches libpng.
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard raw.count >= 8, Array(raw.prefix(8)) == signature, let base = raw.baseAddress else {
            throw DataError(path: nil, problem: "not a PNG (the data does not start with the PNG signature)")
        }
        guard png_image_begin_read_from_memory(&image, base, raw.count) != 0 else {
            throw DataError(path: nil, problem: "not a readable PNG: \(memoryMessage(of: &image))")
        }
    }

    /// libpng's message in `image.message` (empty when none).
    private static func memoryMessage(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
