import Foundation

/// A batch of 8-bit images of one size, stored contiguously in NCHW order
/// (image, channel, row, column), with optional class labels.
public struct ImageSet: Sendable, Equatable {
    /// Number of images.
    public let count: Int
    /// Channels per image: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// Rows per image.
    public let height: Int
    /// Columns per image.
    public let width: Int
    /// All pixels, `count × channels × height × width` bytes in NCHW order.
    public let pixels: [UInt8]
    /// Class label of each image (`labels.count == count`), or `nil` when unlabelled.
    public let labels: [Int]?
    /// Number of classes the labels range over (labels lie in `0..<classes`); 0 when unlabelled.
    public let classes: Int

    /// Makes an image set.
    ///
    /// - Parameters:
    ///   - count: number of images.
    ///   - channels: channels per image.
    ///   - height: rows per image.
    ///   - width: columns per image.
    ///   - pixels: `count × channels × height × width` bytes in NCHW order.
    ///   - labels: one label per image, or `nil`.
    ///   - classes: number of classes; pass 0 (the default) when `labels` is `nil`.
    /// - Throws: `DataError` when the shape is empty or the pixel or label counts do not match it.
    public init(count: Int, channels: Int, height: Int, width: Int,
                pixels: [UInt8], labels: [Int]? = nil, classes: Int = 0) throws {
        guard count >= 0 && channels > 0 && height > 0 && width > 0 else {
            throw DataError(path: nil, problem: "image set: bad shape \(count)×\(channels)×\(height)×\(width)")
        }
        guard let n = Sizes.product([count, channels, height, width]), pixels.count == n else {
            throw DataError(path: nil, problem: "image set: \(pixels.count) pixels for shape \(count)×\(channels)×\(height)×\(width)")
        }
        if let labels, labels.count != count {
            throw DataError(path: nil, problem: "image set: \(labels.count) labels for \(count) images")
        }
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
        self.labels = labels
        self.classes = labels == nil ? 0 : classes
    }

    /// Bytes per image: `channels × height × width`.
    public var imageSize: Int { channels * height * width }

    /// The pixels of image `index` (CHW order), as a slice of `pixels`.
    /// - Throws: `DataError` for an index outside `0..<count`.
    public func image(at index: Int) throws -> ArraySlice<UInt8> {
        guard index >= 0 && index < count else { throw DataError(path: nil, problem: "image set: image index \(index) out of 0..<\(count)") }
        let n = imageSize
        return pixels[index * n ..< (index + 1) * n]
    }

    /// A new set holding the images (and labels) at `indices`, in that order; indices may repeat.
    /// - Throws: `DataError` for an index outside `0..<count`.
    public func subset(_ indices: [Int]) throws -> ImageSet {
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw DataError(path: nil, problem: "image set: subset index \(bad) out of 0..<\(count)")
        }
        let n = imageSize
        var out = [UInt8](repeating: 0, count: indices.count * n)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    UnsafeMutableRawPointer(dst.baseAddress! + k * n)
                        .copyMemory(from: src.baseAddress! + i * n, byteCount: n)
                }
            }
        }
        return try ImageSet(count: indices.count, channels: channels, height: height, width: width,
                            pixels: out, labels: labels.map { l in indices.map { l[$0] } }, classes: classes)
    }
}
