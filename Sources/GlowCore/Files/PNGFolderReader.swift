import Foundation

/// Loads every PNG file of a folder as one unlabelled `ImageSet`.
public enum PNGFolderReader {
    /// Loads all `*.png` files (extension matched case-insensitively) in `directory`,
    /// sorted by file name, converted to `channels` channels (see `PNGImage.read(path:channels:)`).
    ///
    /// - Parameters:
    ///   - directory: the folder to read; subfolders are ignored.
    ///   - channels: 1 (gray) or 3 (RGB).
    /// - Returns: an `ImageSet` in NCHW order with no labels.
    /// - Throws: `DataError` if the folder is missing or holds no PNG files, if a file
    ///   cannot be read, or if a file's size differs from the first file's (naming the odd file).
    public static func load(directory: String, channels: Int) throws -> ImageSet {
        guard channels == 1 || channels == 3 else {
            throw DataError(path: directory, problem: "cannot load PNGs as \(channels) channels, expected 1 or 3")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw DataError(path: directory, problem: "no such directory (or not readable)")
        }
        let files = names.filter { ($0 as NSString).pathExtension.lowercased() == "png" }.sorted()
        guard let first = files.first else {
            throw DataError(path: directory, problem: "holds no .png files")
        }
        var height = 0, width = 0
        var pixels = [UInt8]()
        for (index, name) in files.enumerated() {
            let path = (directory as NSString).appendingPathComponent(name)
            let image = try PNGImage.read(path: path, channels: channels)
            if index == 0 {
                height = image.height
                width = image.width
                pixels.reserveCapacity(files.count * channels * height * width)
            } else if image.height != height || image.width != width {
                throw DataError(path: path, problem: "size \(image.width)×\(image.height) differs from \(width)×\(height) of \(first)")
            }
            // HWC -> CHW
            let plane = height * width
            let base = pixels.count
            pixels.append(contentsOf: repeatElement(0, count: channels * plane))
            for p in 0 ..< plane {
                for c in 0 ..< channels {
                    pixels[base + c * plane + p] = image.pixels[p * channels + c]
                }
            }
        }
        return try ImageSet(count: files.count, channels: channels, height: height, width: width, pixels: pixels)
    }
}
