import Foundation

/// Reads the binary version of CIFAR-10 (`cifar-10-batches-bin`).
///
/// Each batch file is a sequence of 3073-byte records: one label byte (0...9) followed
/// by 3072 pixel bytes — the 32×32 red plane, then green, then blue, each row-major.
public enum CIFAR10Reader {
    /// Rows and columns of a CIFAR-10 image.
    public static let side = 32
    /// Bytes per record: one label byte plus 3 × 32 × 32 pixel bytes.
    public static let recordSize = 1 + 3 * 32 * 32
    /// Number of classes; labels lie in `0..<classes`.
    public static let classes = 10
    /// The most records one batch file may hold: the whole 50 000-image training set (real
    /// batch files hold 10 000), so that a corrupt or hostile file (e.g. a gzip bomb) is
    /// refused before it fills memory.
    public static let maxRecordsPerFile = 50_000

    /// The batch file names of a split: `data_batch_1.bin` … `data_batch_5.bin` for
    /// `"train"`, `test_batch.bin` for `"test"`; `nil` for any other split.
    public static func batchFiles(split: String) -> [String]? {
        switch split {
        case "train": return (1 ... 5).map { "data_batch_\($0).bin" }
        case "test": return ["test_batch.bin"]
        default: return nil
        }
    }

    /// Loads one split from `directory`, or from `directory/cifar-10-batches-bin` when the
    /// batch files are not directly in `directory`.
    ///
    /// - Parameters:
    ///   - directory: the folder holding the batch files.
    ///   - split: `"train"` (50 000 images in 5 files) or `"test"` (10 000 images).
    /// - Returns: a 3-channel 32×32 `ImageSet` with labels and `classes == 10`.
    /// - Throws: `DataError` for an unknown split, a missing file, a file whose size is
    ///   not a positive multiple of 3073 or larger than `maxRecordsPerFile` records, or a
    ///   label outside 0...9.
    public static func load(directory: String, split: String) throws -> ImageSet {
        guard let names = batchFiles(split: split) else {
            throw DataError(path: directory, problem: "unknown split '\(split)', expected train or test")
        }
        var folder = directory
        let nested = (directory as NSString).appendingPathComponent("cifar-10-batches-bin")
        let fm = FileManager.default
        if !fm.fileExists(atPath: (directory as NSString).appendingPathComponent(names[0])),
           fm.fileExists(atPath: (nested as NSString).appendingPathComponent(names[0])) {
            folder = nested
        }
        let plane = 3 * side * side
        var pixels = [UInt8]()
        var labels = [Int]()
        for name in names {
            let path = (folder as NSString).appendingPathComponent(name)
            let bytes = try GzipFileReader(path: path)
                .readToEnd(limit: maxRecordsPerFile * recordSize, what: "\(maxRecordsPerFile) records of \(recordSize) bytes")
            guard bytes.count > 0, bytes.count % recordSize == 0 else {
                throw DataError(path: path, problem: "file holds \(bytes.count) bytes, not a positive multiple of \(recordSize) (1 label byte + \(plane) pixel bytes per record)")
            }
            let records = bytes.count / recordSize
            pixels.reserveCapacity(pixels.count + records * plane)
            labels.reserveCapacity(labels.count + records)
            for r in 0 ..< records {
                let base = r * recordSize
                let label = Int(bytes[base])
                guard label < classes else {
                    throw DataError(path: path, problem: "label \(label) of record \(r) is outside 0...\(classes - 1)")
                }
                labels.append(label)
                pixels.append(contentsOf: bytes[base + 1 ..< base + recordSize])
            }
        }
        return try ImageSet(count: labels.count, channels: 3, height: side, width: side,
                        pixels: pixels, labels: labels, classes: classes)
    }
}
