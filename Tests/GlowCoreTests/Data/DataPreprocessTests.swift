import Foundation
import XCTest
@testable import GlowCore

final class DataPreprocessTests: XCTestCase {
    private let all: [UInt8] = (0 ... 255).map { UInt8($0) }

    func testEightBitRoundTrip() throws {
        let x = try Preprocess.toModel(pixels: all, nBits: 8)
        XCTAssertEqual(x.count, 256)
        XCTAssertEqual(x[0], -0.5)
        XCTAssertEqual(x[128], 0)
        XCTAssertEqual(x[255], 255.0 / 256.0 - 0.5)
        XCTAssertEqual(try Preprocess.toPixels(x, nBits: 8), all)
    }

    func testFiveBitsRoundsDownToMultiplesOfEight() throws {
        let x = try Preprocess.toModel(pixels: all, nBits: 5)
        XCTAssertEqual(x[255], 31.0 / 32.0 - 0.5)
        XCTAssertEqual(x[15], 1.0 / 32.0 - 0.5)
        XCTAssertEqual(try Preprocess.toPixels(x, nBits: 5), all.map { $0 / 8 * 8 })
        for bits in 1 ... 8 {
            let step = 1 << (8 - bits)
            XCTAssertEqual(try Preprocess.toPixels(try Preprocess.toModel(pixels: all, nBits: bits), nBits: bits),
                           all.map { UInt8(Int($0) / step * step) }, "nBits \(bits)")
        }
    }

    func testSliceOverloadAndClamping() throws {
        let slice = all[100 ..< 110]
        XCTAssertEqual(try Preprocess.toModel(pixels: slice, nBits: 6), try Preprocess.toModel(pixels: Array(slice), nBits: 6))
        XCTAssertEqual(try Preprocess.toPixels([-3, -0.5, 0.49999, 0.5, 7, .infinity, -.infinity, .nan], nBits: 8),
                       [0, 0, 255, 255, 255, 255, 0, 0])
        XCTAssertEqual(try Preprocess.toPixels([0.5, 0.0, -0.49], nBits: 5), [248, 128, 0])
    }

    /// An image holding a non-finite value is named and drawn as the crossed placeholder;
    /// the other images are converted as `toPixels` converts them.
    func testNonFiniteImagesBecomeMarkedPlaceholders() throws {
        let (c, h, w) = (1, 4, 6)
        var x = (0 ..< 3 * c * h * w).map { Float($0 % 7) / 8 - 0.4 }
        x[24 + 5] = .nan             // image 1
        x[48 + 23] = -.infinity      // image 2, its last value
        XCTAssertEqual(Preprocess.notFiniteImages(x, imageSize: c * h * w), [1, 2])
        let (pixels, bad) = try Preprocess.toPixels(x, nBits: 8, channels: c, height: h, width: w)
        XCTAssertEqual(bad, [1, 2])
        XCTAssertEqual(Array(pixels[0 ..< 24]), try Preprocess.toPixels(Array(x[0 ..< 24]), nBits: 8))
        var cell = [UInt8](repeating: 0, count: 24)
        Preprocess.drawPlaceholder(&cell, image: 0, channels: c, height: h, width: w)
        XCTAssertEqual(Array(pixels[24 ..< 48]), cell)
        XCTAssertEqual(Array(pixels[48 ..< 72]), cell)
        // Both diagonals white, the rest dark: corners and the centre column lit, an edge middle dark.
        XCTAssertEqual([cell[0], cell[5], cell[18], cell[23]], [255, 255, 255, 255])
        XCTAssertEqual(cell[2 * w + 0], 48)
        XCTAssertEqual(Set(cell), [48, 255])
        // Colour: red lines (the first channel lit, the others dark on the diagonals).
        var rgb = [UInt8](repeating: 7, count: 3 * 16)
        Preprocess.drawPlaceholder(&rgb, image: 0, channels: 3, height: 4, width: 4)
        XCTAssertEqual([rgb[0], rgb[16], rgb[32]], [255, 0, 0])
        XCTAssertEqual([rgb[1], rgb[17], rgb[33]], [48, 48, 48])
    }
}
