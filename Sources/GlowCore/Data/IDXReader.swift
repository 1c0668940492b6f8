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
        let bytes = try GzipFileReader.read(path: path)
        let headerSize = 16
        guard bytes.count >= headerSize else {
            throw DataError(path: path, problem: "file holds \(bytes.count) bytes, too short for an IDX images header (\(headerSize) bytes)")
        }
        let magic = uint32(bytes, at: 0)
        guard magic == imagesMagic else {
            throw DataError(path: path, problem: "bad magic number \(hex(magic)), expected \(hex(imagesMagic)) (IDX images)")
        }
        let count = Int(uint32(bytes, at: 4))
        let height = Int(uint32(bytes, at: 8))
        let width = Int(uint32(bytes, at: 12))
        guard height > 0, width > 0 else {
            throw DataError(path: path, problem: "bad image dimensions \(height)×\(width) in header")
        }
        let expected = headerSize + count * height * width
        guard bytes.count == expected else {
            throw DataError(path: path, problem: "file holds \(bytes.count) bytes but the header announces \(count) images of \(height)×\(width) (\(expected) bytes)")
        }
        return (count, height, width, Array(bytes[headerSize...]))
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
        let bytes = try GzipFileReader.read(path: path)
        let headerSize = 8
        guard bytes.count >= headerSize else {
            throw DataError(path: path, problem: "file holds \(bytes.count) bytes, too short for an IDX labels header (\(headerSize) bytes)")
        }
        let magic = uint32(bytes, at: 0)
        guard magic == labelsMagic else {
            throw DataError(path: path, problem: "bad magic number \(hex(magic)), expected \(hex(labelsMagic)) (IDX labels)")
        }
        let count = Int(uint32(bytes, at: 4))
        let expected = headerSize + count
        guard bytes.count == expected else {
            throw DataError(path: path, problem: "file holds \(bytes.count) bytes but the header announces \(count) labels (\(expected) bytes)")
        }
        var labels = [Int](repeating: 0, count: count)
        for i in 0 ..< count {
            let label = Int(bytes[headerSize + i])
            guard label < classes else {
                throw DataError(path: path, problem: "label \(label) of item \(i) is outside 0...\(classes - 1)")
            }
            labels[i] = label
        }
        return labels
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
