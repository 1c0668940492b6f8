import Foundation
import XCTest
@testable import GlowCore

final class DataGridTests: XCTestCase {
    private typealias S = DataTestSupport

    func testGrayGridLayout() throws {
        // Five 3×2 (h×w) gray images in 2 columns: 3 grid rows, the last half empty.
        let (n, h, w) = (5, 3, 2)
        let images = (0 ..< n * h * w).map { UInt8($0 + 1) }
        let grid = try ImageGrid.make(images: images, count: n, channels: 1, height: h, width: w, columns: 2,
                                      border: 1, borderValue: 255)
        XCTAssertEqual(grid.width, 2 * w + 3)
        XCTAssertEqual(grid.height, 3 * h + 4)
        XCTAssertEqual(grid.channels, 1)
        XCTAssertEqual(grid.pixels.count, grid.width * grid.height)
        func at(_ y: Int, _ x: Int) -> UInt8 { grid.pixels[y * grid.width + x] }
        for y in [0, 4, 8, 12] { for x in 0 ..< grid.width { XCTAssertEqual(at(y, x), 255, "row \(y)") } }
        for x in [0, 3, 6] { for y in 0 ..< grid.height { XCTAssertEqual(at(y, x), 255, "column \(x)") } }
        // Image 3 sits in grid row 1, column 1: top 1 + (h + 1), left 1 + (w + 1).
        for y in 0 ..< h { for x in 0 ..< w { XCTAssertEqual(at(5 + y, 4 + x), images[3 * h * w + y * w + x]) } }
        // Image 0 at the top left, empty cell 5 filled with the border value.
        for y in 0 ..< h { for x in 0 ..< w { XCTAssertEqual(at(1 + y, 1 + x), images[y * w + x]) } }
        for y in 0 ..< h { for x in 0 ..< w { XCTAssertEqual(at(9 + y, 4 + x), 255) } }
    }

    func testRGBGridInterleavesPlanes() throws {
        // Two 2×2 RGB images (NCHW), one row, no border.
        let images = (0 ..< 24).map { UInt8($0) }
        let grid = try ImageGrid.make(images: images, count: 2, channels: 3, height: 2, width: 2, columns: 2,
                                      border: 0)
        XCTAssertEqual(grid.width, 4)
        XCTAssertEqual(grid.height, 2)
        // Pixel (y=1, x=3) is image 1, (1,1): R = 12 + 0·4 + 3, G = 12 + 4 + 3, B = 12 + 8 + 3.
        let p = (1 * 4 + 3) * 3
        XCTAssertEqual(Array(grid.pixels[p ..< p + 3]), [15, 19, 23])
        let border = try ImageGrid.make(images: images, count: 2, channels: 3, height: 2, width: 2, columns: 1,
                                        border: 2, borderValue: 9)
        XCTAssertEqual(border.width, 6)
        XCTAssertEqual(border.height, 10)
        XCTAssertEqual(Array(border.pixels[0 ..< 18]), [UInt8](repeating: 9, count: 18))
        S.assertDataError(["23 bytes"]) {
            try ImageGrid.make(images: Array(images.dropLast()), count: 2, channels: 3, height: 2, width: 2, columns: 2)
        }
    }

    func testRowsVariantAndPNGOutput() throws {
        let rowA = (0 ..< 3 * 4).map { UInt8($0) }          // three 2×2 gray images
        let rowB = (0 ..< 3 * 4).map { UInt8(100 + $0) }
        let grid = try ImageGrid.rows([rowA, rowB], channels: 1, height: 2, width: 2)
        let same = try ImageGrid.make(images: rowA + rowB, count: 6, channels: 1, height: 2, width: 2, columns: 3)
        XCTAssertEqual(grid.width, 3 * 2 + 4)
        XCTAssertEqual(grid.height, 2 * 2 + 3)
        XCTAssertEqual(grid.pixels, same.pixels)
        XCTAssertEqual(grid.pixels[4 * grid.width + 1], 100)   // row B, image 0, pixel (0,0)
        S.assertDataError(["row 1 holds 2 images"]) {
            try ImageGrid.rows([rowA, Array(rowB.prefix(8))], channels: 1, height: 2, width: 2)
        }

        let dir = try S.makeTempDirectory("grid")
        defer { S.remove(dir) }
        let path = (dir as NSString).appendingPathComponent("rows.png")
        try ImageGrid.writeRows(path: path, rows: [rowA, rowB], channels: 1, height: 2, width: 2)
        let back = try PNGImage.read(path: path)
        XCTAssertEqual(back.width, grid.width)
        XCTAssertEqual(back.height, grid.height)
        XCTAssertEqual(back.pixels, grid.pixels)
        let path2 = (dir as NSString).appendingPathComponent("grid.png")
        try ImageGrid.write(path: path2, images: rowA, count: 3, channels: 1, height: 2, width: 2, columns: 2)
        XCTAssertEqual(try PNGImage.read(path: path2).pixels,
                       try ImageGrid.make(images: rowA, count: 3, channels: 1, height: 2, width: 2, columns: 2).pixels)
    }
}
