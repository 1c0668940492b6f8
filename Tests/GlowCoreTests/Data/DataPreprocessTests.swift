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
}
