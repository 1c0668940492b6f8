import Foundation
import CLibPNG

/// Reads and writes 8-bit gray and RGB PNG files with libpng's simplified API
/// (`png_image_*`), which reports failures through return codes and `png_image.message`
/// rather than `longjmp`, so every libpng error becomes a `DataError` naming the file.
///
/// Pixels are row-major and interleaved (HWC): `height × width × channels` bytes.
public enum PNGImage {
    /// Writes an 8-bit PNG.
    ///
    /// - Parameters:
    ///   - path: the file to create or overwrite.
    ///   - width: columns, at least 1.
    ///   - height: rows, at least 1.
    ///   - channels: 1 (gray) or 3 (RGB).
    ///   - pixels: `height × width × channels` bytes, row-major, channels interleaved.
    /// - Throws: `DataError` for bad arguments or when libpng cannot write the file.
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        // Encoded in memory and written with AtomicFile, so a failed write (a full disk) leaves
        // the previous file at `path` intact.
        let encoded = try encode(width: width, height: height, channels: channels, pixels: pixels, path: path)
        do {
            try AtomicFile.write(encoded, to: path)
        } catch let e as GlowError {
            throw DataError(path: path, problem: "cannot write PNG: " + e.message.dropFirst(path.count + 2))
        }
    }

    /// Reads a PNG as 8-bit gray or RGB.
    ///
    /// Palette, 16-bit, gray+alpha and RGBA files are converted by libpng to 8-bit gray or
    /// RGB; an alpha channel is dropped (colour values are kept as stored, not composited).
    /// 16-bit samples are taken as sRGB-encoded and scaled to 8 bits (no gamma change).
    ///
    /// - Parameters:
    ///   - path: the PNG file.
    ///   - channels: 1 or 3 to convert to gray or RGB (gray to RGB replicates the value;
    ///     RGB to gray uses libpng's sRGB-aware luminance), or `nil` (the default) to keep
    ///     the file's own kind: 1 for gray files, 3 for colour and palette files.
    /// - Returns: the size, the channel count and `height × width × channels` bytes (HWC).
    /// - Throws: `DataError` for a missing, unreadable or corrupt file, or a bad `channels`.
    public static func read(path: String, channels: Int? = nil)
        throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        if let channels, channels != 1, channels != 3 {
            throw DataError(path: path, problem: "cannot read a PNG as \(channels) channels, expected 1 or 3")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(path: path, problem: "no such file")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            let problem = message(of: &image)
            png_image_free(&image)
            throw DataError(path: path, problem: "not a readable PNG: \(problem)")
        }
        let colourFlag = UInt32(PNG_FORMAT_FLAG_COLOR)
        let alphaFlag = UInt32(PNG_FORMAT_FLAG_ALPHA)
        let fileFormat = image.format
        let outChannels = channels ?? ((fileFormat & colourFlag) != 0 ? 3 : 1)
        let hasAlpha = (fileFormat & alphaFlag) != 0
        let readChannels = outChannels + (hasAlpha ? 1 : 0)
        // 8-bit output, no colour map; alpha kept while reading so it can be dropped
        // afterwards instead of being composited onto a background.
        image.format = (outChannels == 3 ? colourFlag : 0) | (hasAlpha ? alphaFlag : 0)
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let width = Int(image.width)
        let height = Int(image.height)
        let bytes = try checkedSize(path: path, width: width, height: height, channels: readChannels)
        var buffer = [UInt8](repeating: 0, count: bytes)
        let ok = buffer.withUnsafeMutableBytes { raw in
            png_image_finish_read(&image, nil, raw.baseAddress, Int32(width * readChannels), nil)
        }
        let problem = message(of: &image)
        png_image_free(&image)
        guard ok != 0 else {
            throw DataError(path: path, problem: "corrupt PNG: \(problem)")
        }
        guard hasAlpha else { return (width, height, outChannels, buffer) }
        var pixels = [UInt8](repeating: 0, count: width * height * outChannels)   // ≤ bytes, checked above
        for p in 0 ..< width * height {
            for c in 0 ..< outChannels {
                pixels[p * outChannels + c] = buffer[p * readChannels + c]
            }
        }
        return (width, height, outChannels, pixels)
    }

    /// The bytes of a `width × height × channels` decode buffer, once the header's size is
    /// found possible: the file must be long enough to hold that many pixels even at one bit
    /// each with deflate's best ratio (1032:1), the buffer must fit in the memory available,
    /// and a row must fit libpng's 32-bit stride. Checked before anything is allocated.
    private static func checkedSize(path: String, width: Int, height: Int, channels: Int) throws -> Int {
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        // Smallest raw image data: one bit per pixel and one filter byte per row.
        let minimumRaw = Sizes.product(height, 1 + (width + 7) / 8) ?? Int.max
        let possible = Sizes.product(fileSize, ReadLimits.maxDeflateRatio) ?? Int.max
        guard minimumRaw <= possible else {
            throw DataError(path: path, problem: "corrupt PNG: its header says \(width)×\(height) pixels, more than "
                + "its \(ReadLimits.describe(fileSize)) can hold (truncated or hostile file)")
        }
        let budget = ReadLimits.memoryBudget()
        guard let bytes = Sizes.product(width, height, channels), bytes <= budget else {
            throw DataError(path: path, problem: "a \(width)×\(height) PNG needs more than the "
                + "\(ReadLimits.describe(budget)) of memory available")
        }
        guard width * channels <= Int(Int32.max) else {
            throw DataError(path: path, problem: "PNG width \(width) is too large (a row exceeds 2³¹ bytes)")
        }
        return bytes
    }

    /// libpng's message in `image.message` (empty when none).
    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
