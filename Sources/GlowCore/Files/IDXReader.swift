import Foundation

/// Reads MNIST / Fashion-MNIST files in the IDX format, gzip-compressed or raw.
///
/// An images file (`idx3-ubyte`) is a big-endian header — magic `0x00000803`, image count,
/// rows, columns — followed by `count × rows × columns` bytes; a labels file (`idx1-ubyte`)
/// is magic `0x00000801` and a count followed by one byte per label.
public enum IDXReader {
    /// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801
    /// Number of classes in MNIST and Fashion-MNIST; labels lie in `0..<classes`.
    public static let classes = 10

    /// Reads an IDX images file.
    ///
    /// - Parameter path: a `…-idx3-ubyte` file, optionally gzip-compressed.
    /// - Returns: the image count, the rows and columns per image, and the pixels
    ///   (`count × height × width` bytes, image after image, row-major).
    /// - Throws: `DataError` for a missing or unreadable file, a bad magic number,
    ///   zero rows or columns, or a size that disagrees with the header.
    public static func images(path: String) throws -> (count: Int, height: Int, width: Int, pixels: [UInt8]) {
        let reader = try GzipFileReader(path: path)
        let headerSize = 16
        let header = try reader.read(upTo: headerSize)
        guard header.count == headerSize else {
            throw DataError(path: path, problem: "file holds \(header.count) bytes, too short for an IDX images header (\(headerSize) bytes)")
        }
        let magic = uint32(header, at: 0)
        guard magic == imagesMagic else {
            throw DataError(path: path, problem: "bad magic number \(hex(magic)), expected \(hex(imagesMagic)) (IDX images)")
        }
        let count = Int(uint32(header, at: 4))
        let height = Int(uint32(header, at: 8))
        let width = Int(uint32(header, at: 12))
        guard height > 0, width > 0 else {
            throw DataError(path: path, problem: "bad image dimensions \(height)×\(width) in header")
        }
        // The header's sizes are checked against the file before any pixel is read.
        let announced = "\(count) images of \(height)×\(width)"
        guard let size = Sizes.product(count, height, width) else {
            throw DataError(path: path, problem: "the header announces \(announced), more bytes than can be addressed")
        }
        let pixels = try readBody(reader, size: size, headerSize: headerSize, announced: announced)
        return (count, height, width, pixels)
    }

    /// Reads an IDX labels file.
    ///
    /// - Parameters:
    ///   - path: a `…-idx1-ubyte` file, optionally gzip-compressed.
    ///   - classes: labels must lie in `0..<classes` (10 for MNIST).
    /// - Returns: one label per item.
    /// - Throws: `DataError` for a missing or unreadable file, a bad magic number,
    ///   a size that disagrees with the header, or a label out of range.
    public static func labels(path: String, classes: Int = IDXReader.classes) throws -> [Int] {
        let reader = try GzipFileReader(path: path)
        let headerSize = 8
        let header = try reader.read(upTo: headerSize)
        guard header.count == headerSize else {
            throw DataError(path: path, problem: "file holds \(header.count) bytes, too short for an IDX labels header (\(headerSize) bytes)")
        }
        let magic = uint32(header, at: 0)
        guard magic == labelsMagic else {
            throw DataError(path: path, problem: "bad magic number \(hex(magic)), expected \(hex(labelsMagic)) (IDX labels)")
        }
        let count = Int(uint32(header, at: 4))
        let bytes = try readBody(reader, size: count, headerSize: headerSize, announced: "\(count) labels")
        var labels = [Int](repeating: 0, count: count)
        for i in 0 ..< count {
            let label = Int(bytes[i])
            guard label < classes else {
                throw DataError(path: path, problem: "label \(label) of item \(i) is outside 0...\(classes - 1)")
            }
            labels[i] = label
        }
        return labels
    }

    /// The `size` bytes after the header, checked first against what the file can hold and
    /// the memory available, and then to be exactly all that follows the header.
    private static func readBody(_ reader: GzipFileReader, size: Int, headerSize: Int, announced: String) throws -> [UInt8] {
        let path = reader.path
        guard size <= Int.max - headerSize else {
            throw DataError(path: path, problem: "the header announces \(announced), more bytes than can be addressed")
        }
        let expected = headerSize + size
        if size > reader.maxContentSize - headerSize {
            if !reader.isGzip {
                throw DataError(path: path, problem: "file holds \(reader.fileSize) bytes but the header announces \(announced) (\(expected) bytes)")
            }
            throw DataError(path: path, problem: "the header announces \(announced) (\(ReadLimits.describe(expected))), more than "
                + "this \(ReadLimits.describe(reader.fileSize)) gzip file can inflate to (\(ReadLimits.describe(reader.maxContentSize)))")
        }
        let budget = reader.memoryBudget
        guard size <= budget else {
            throw DataError(path: path, problem: "the header announces \(announced) (\(ReadLimits.describe(expected))), more than "
                + "the \(ReadLimits.describe(budget)) of memory available")
        }
        let body = try reader.read(upTo: size)
        // One byte more than announced tells a too-long file without reading all of it.
        let extra = try reader.read(upTo: 1)
        guard body.count == size, extra.isEmpty else {
            let held = body.count == size ? "more than \(expected)" : "\(headerSize + body.count)"
            throw DataError(path: path, problem: "file holds \(held) bytes but the header announces \(announced) (\(expected) bytes)")
        }
        return body
    }

    /// Loads one split of an MNIST-style dataset from `directory`.
    ///
    /// Looks for `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (split `"train"`)
    /// or `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (split `"test"`), each
    /// either raw or with a `.gz` suffix (the raw file wins when both exist).
    ///
    /// - Returns: a 1-channel `ImageSet` with labels and `classes == 10`.
    /// - Throws: `DataError` for an unknown split, a missing file, any error of
    ///   `images(path:)` / `labels(path:classes:)`, or label and image counts that differ.
    public static func load(directory: String, split: String) throws -> ImageSet {
        let prefix: String
        switch split {
        case "train": prefix = "train"
        case "test": prefix = "t10k"
        default:
            throw DataError(path: directory, problem: "unknown split '\(split)', expected train or test")
        }
        let imagesPath = try locate(directory: directory, name: "\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate(directory: directory, name: "\(prefix)-labels-idx1-ubyte")
        let images = try images(path: imagesPath)
        let labels = try labels(path: labelsPath)
        guard labels.count == images.count else {
            throw DataError(path: labelsPath, problem: "labels file has \(labels.count) labels but images file has \(images.count) images")
        }
        return try ImageSet(count: images.count, channels: 1, height: images.height, width: images.width,
                        pixels: images.pixels, labels: labels, classes: classes)
    }

    /// The path of `name` or `name.gz` in `directory`, whichever exists (raw first).
    private static func locate(directory: String, name: String) throws -> String {
        let raw = (directory as NSString).appendingPathComponent(name)
        let fm = FileManager.default
        if fm.fileExists(atPath: raw) { return raw }
        if fm.fileExists(atPath: raw + ".gz") { return raw + ".gz" }
        throw DataError(path: raw + "(.gz)", problem: "no such file")
    }

    /// The big-endian `UInt32` in `bytes[offset ..< offset + 4]`.
    private static func uint32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// `value` as `0x` and 8 hex digits.
    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
