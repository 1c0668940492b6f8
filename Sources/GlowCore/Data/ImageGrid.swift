import Foundation

/// Tiles a batch of images into one picture, with a border around and between the cells.
///
/// The result is `columns × width + (columns + 1) × border` pixels wide and
/// `rows × height + (rows + 1) × border` high, where `rows = ⌈count / columns⌉`; cells are
/// filled row by row and unused cells of the last row are filled with `borderValue`.
/// For a figure with one row per setting (e.g. one per sampling temperature) use
/// `rows(_:channels:height:width:border:borderValue:)`.
public enum ImageGrid {
    /// Builds the grid.
    ///
    /// - Parameters:
    ///   - images: `count × channels × height × width` bytes, NCHW.
    ///   - count: number of images (at least 1).
    ///   - channels: 1 or 3.
    ///   - height: rows per image.
    ///   - width: columns per image.
    ///   - columns: cells per grid row (at least 1).
    ///   - border: border width in pixels (0 for none).
    ///   - borderValue: value of every channel of the border pixels.
    /// - Returns: the grid picture, row-major with channels interleaved (HWC).
    /// - Throws: `DataError` for inconsistent arguments.
    public static func make(images: [UInt8], count: Int, channels: Int, height: Int, width: Int,
                            columns: Int, border: Int = 1, borderValue: UInt8 = 255)
        throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        guard count >= 1, channels == 1 || channels == 3, height >= 1, width >= 1, columns >= 1, border >= 0 else {
            throw DataError(path: nil, problem: "grid: bad arguments count \(count), channels \(channels), size \(height)×\(width), columns \(columns), border \(border)")
        }
        guard let size = Sizes.product([channels, height, width]) else {
            throw DataError(path: nil, problem: "grid: image size \(channels)×\(height)×\(width) is past the largest integer")
        }
        guard let bytes = Sizes.product([count, size]), images.count == bytes else {
            throw DataError(path: nil, problem: "grid: \(images.count) bytes given for \(count) images of \(channels)×\(height)×\(width) (\(Sizes.product([count, size]).map(String.init) ?? "too many") bytes)")
        }
        let gridRows = count / columns + (count % columns == 0 ? 0 : 1)
        // Sizes from callers' options (--columns, --count) are checked before anything is
        // allocated: a PNG row is at most 2³¹−1 bytes, and the whole grid must fit in memory.
        let gwOpt = MemoryLimit.sum([Sizes.product([columns, width]), Sizes.product([columns, border]), border])
        let ghOpt = MemoryLimit.sum([Sizes.product([gridRows, height]), Sizes.product([gridRows, border]), border])
        guard let gw = gwOpt, let gh = ghOpt, let rowBytes = Sizes.product([gw, channels]), rowBytes <= Int(Int32.max),
              gh <= Int(Int32.max), let total = Sizes.product([rowBytes, gh]), total <= MemoryLimit.physicalBytes else {
            throw DataError(path: nil, problem: "grid: \(count) images of \(width)×\(height) in \(columns) columns make a picture "
                + "too large to write (\(gwOpt.map(String.init) ?? "huge")×\(ghOpt.map(String.init) ?? "huge") pixels)")
        }
        var pixels = [UInt8](repeating: borderValue, count: gw * gh * channels)
        for n in 0 ..< count {
            let top = border + (n / columns) * (height + border)
            let left = border + (n % columns) * (width + border)
            for c in 0 ..< channels {
                for y in 0 ..< height {
                    let src = n * size + (c * height + y) * width
                    let dst = ((top + y) * gw + left) * channels + c
                    for x in 0 ..< width {
                        pixels[dst + x * channels] = images[src + x]
                    }
                }
            }
        }
        return (gw, gh, channels, pixels)
    }

    /// Builds a grid with one grid row per batch: `rows[r]` holds the images of row `r`
    /// (NCHW), and every batch must hold the same number of images, which becomes the
    /// number of columns.
    ///
    /// - Throws: `DataError` if `rows` is empty, a batch is empty or batches differ in size.
    public static func rows(_ rows: [[UInt8]], channels: Int, height: Int, width: Int,
                            border: Int = 1, borderValue: UInt8 = 255)
        throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        let size = Sizes.product([channels, height, width]) ?? 0
        guard let first = rows.first, size > 0, !first.isEmpty, first.count % size == 0 else {
            throw DataError(path: nil, problem: "grid: rows must be non-empty batches of \(channels)×\(height)×\(width) images")
        }
        for (r, row) in rows.enumerated() where row.count != first.count {
            throw DataError(path: nil, problem: "grid: row \(r) holds \(row.count / size) images (\(row.count) bytes) but row 0 holds \(first.count / size)")
        }
        let columns = first.count / size
        return try make(images: Array(rows.joined()), count: columns * rows.count, channels: channels,
                        height: height, width: width, columns: columns, border: border, borderValue: borderValue)
    }

    /// Builds the grid of `make(images:count:channels:height:width:columns:border:borderValue:)`
    /// and writes it as a PNG at `path`.
    /// - Throws: `DataError` for inconsistent arguments or a failed write.
    public static func write(path: String, images: [UInt8], count: Int, channels: Int, height: Int, width: Int,
                             columns: Int, border: Int = 1, borderValue: UInt8 = 255) throws {
        let grid = try make(images: images, count: count, channels: channels, height: height, width: width,
                            columns: columns, border: border, borderValue: borderValue)
        try PNGImage.write(path: path, width: grid.width, height: grid.height, channels: grid.channels, pixels: grid.pixels)
    }

    /// Builds the grid of `rows(_:channels:height:width:border:borderValue:)` (one grid row
    /// per batch) and writes it as a PNG at `path`.
    /// - Throws: `DataError` for inconsistent arguments or a failed write.
    public static func writeRows(path: String, rows: [[UInt8]], channels: Int, height: Int, width: Int,
                                 border: Int = 1, borderValue: UInt8 = 255) throws {
        let grid = try self.rows(rows, channels: channels, height: height, width: width,
                                 border: border, borderValue: borderValue)
        try PNGImage.write(path: path, width: grid.width, height: grid.height, channels: grid.channels, pixels: grid.pixels)
    }
}
