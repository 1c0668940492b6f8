import Foundation
import XCTest
@testable import GlowCore

final class DataTransformTests: XCTestCase {
    private typealias S = DataTestSupport

    private func single(_ pixels: [UInt8], _ h: Int, _ w: Int) throws -> ImageSet {
        try ImageSet(count: 1, channels: 1, height: h, width: w, pixels: pixels, labels: [4], classes: 10)
    }

    func testDownscaleByTwoIsRoundedBlockMean() throws {
        // Two RGB 4×4 images, including blocks whose mean ends in .5 (rounded up).
        let pixels: [UInt8] = (0 ..< 96).map { (i: Int) -> UInt8 in UInt8((i * 29 + 1) % 256) }
        let set = try ImageSet(count: 2, channels: 3, height: 4, width: 4, pixels: pixels, labels: [1, 2], classes: 10)
        let out = try ImageTransform.resizeArea(set, to: 2)
        XCTAssertEqual(out.height, 2)
        XCTAssertEqual(out.width, 2)
        XCTAssertEqual(out.labels, [1, 2])
        var expected = [UInt8]()
        for plane in 0 ..< 6 {
            for by in 0 ..< 2 {
                for bx in 0 ..< 2 {
                    var sum = 0
                    for y in 0 ..< 2 {
                        for x in 0 ..< 2 {
                            let index: Int = plane * 16 + (2 * by + y) * 4 + 2 * bx + x
                            sum += Int(pixels[index])
                        }
                    }
                    expected.append(UInt8((sum * 2 + 4) / 8))   // round(sum / 4), halves up
                }
            }
        }
        XCTAssertEqual(out.pixels, expected)
        let tie = try ImageTransform.resizeArea(single([1, 2, 3, 4], 2, 2), to: 1)
        XCTAssertEqual(tie.pixels, [3])   // mean 2.5
    }

    func testExactHalvesRoundUpForAnyDenominator() throws {
        // 2×3 → 1×1 is the mean of six pixels; every sum ≡ 3 (mod 6) is an exact half.
        var pixels = [UInt8]()
        var expected = [UInt8]()
        for k in 0 ..< 200 {
            let image: [UInt8] = [UInt8(k), UInt8((k * 7) % 256), 3, UInt8((k * 13) % 200), 50, UInt8(k / 2)]
            pixels += image
            let sum = image.reduce(0) { $0 + Int($1) }
            expected.append(UInt8((2 * sum + 6) / 12))   // floor(sum / 6 + 1/2)
        }
        let set = try ImageSet(count: 200, channels: 1, height: 2, width: 3, pixels: pixels)
        XCTAssertEqual(try ImageTransform.resizeArea(set, to: 1).pixels, expected)
    }

    func testThreeToTwoUsesAreaWeights() throws {
        // Output (0,0) covers input [0,1.5)²: weights 4/9, 2/9, 2/9, 1/9, and so on.
        let set = try single([10, 20, 30, 40, 50, 60, 70, 80, 90], 3, 3)
        let out = try ImageTransform.resizeArea(set, to: 2)
        // (4·10 + 2·20 + 2·40 + 50)/9 = 23.3; (2·30 + 20 + 2·60 + 50)... by hand:
        // [210/9, 330/9, 570/9, 690/9] = [23.33, 36.67, 63.33, 76.67]
        XCTAssertEqual(out.pixels, [23, 37, 63, 77])
    }

    func testUpscaleTwoToThree() throws {
        // Output 3×3 from 2×2: corners copy, edges average two, centre averages four.
        let out = try ImageTransform.resizeArea(single([0, 100, 200, 50], 2, 2), to: 3)
        XCTAssertEqual(out.pixels, [0, 50, 100, 100, 88, 75, 200, 125, 50])
    }

    func testIdentityAndConstantImages() throws {
        let pixels = (0 ..< 25).map { UInt8($0 * 10) }
        let same = try ImageTransform.resizeArea(single(pixels, 5, 5), to: 5)
        XCTAssertEqual(same.pixels, pixels)
        // A constant 28×28 image stays constant at any size; shapes follow.
        let flat = try single([UInt8](repeating: 77, count: 28 * 28), 28, 28)
        for size in [1, 7, 13, 32, 40] {
            let r = try ImageTransform.resizeArea(flat, to: size)
            XCTAssertEqual(r.height, size)
            XCTAssertEqual(r.width, size)
            XCTAssertEqual(r.pixels, [UInt8](repeating: 77, count: size * size), "size \(size)")
        }
        // Non-square input: 2 rows × 4 columns to 2×2 averages column pairs.
        let wide = try ImageTransform.resizeArea(single([0, 10, 20, 30, 40, 50, 60, 71], 2, 4), to: 2)
        XCTAssertEqual(wide.pixels, [5, 25, 45, 66])
        S.assertDataError(["bad output size 0"]) { try ImageTransform.resizeArea(flat, to: 0) }
    }

    func testPad() throws {
        let set = try ImageSet(count: 2, channels: 1, height: 2, width: 3, pixels: Array(1 ... 12), labels: nil)
        let out = try ImageTransform.pad(set, by: 2)
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out.height, 6)
        XCTAssertEqual(out.width, 7)
        for n in 0 ..< 2 {
            let image = Array(try out.image(at: n))
            for y in 0 ..< 6 {
                for x in 0 ..< 7 {
                    let inside = (2 ..< 4).contains(y) && (2 ..< 5).contains(x)
                    let want: UInt8 = inside ? UInt8(n * 6 + (y - 2) * 3 + (x - 2) + 1) : 0
                    XCTAssertEqual(image[y * 7 + x], want, "image \(n) (\(y),\(x))")
                }
            }
        }
        XCTAssertEqual(try ImageTransform.pad(set, by: 0), set)
        S.assertDataError(["bad border -1"]) { try ImageTransform.pad(set, by: -1) }
    }
}
