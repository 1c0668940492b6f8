import Foundation
import XCTest
@testable import GlowCore

final class DataImageSetTests: XCTestCase {
    func testImageAtAndSubset() throws {
        let set = try ImageSet(count: 3, channels: 2, height: 1, width: 2, pixels: Array(0 ..< 12),
                           labels: [5, 6, 7], classes: 10)
        XCTAssertEqual(set.imageSize, 4)
        XCTAssertEqual(Array(try set.image(at: 2)), [8, 9, 10, 11])
        let sub = try set.subset([2, 0, 2])
        XCTAssertEqual(sub.count, 3)
        XCTAssertEqual(sub.pixels, [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11])
        XCTAssertEqual(sub.labels, [7, 5, 7])
        XCTAssertEqual(sub.classes, 10)
        let unlabelled = try ImageSet(count: 1, channels: 1, height: 1, width: 1, pixels: [3])
        XCTAssertNil(unlabelled.labels)
        XCTAssertEqual(unlabelled.classes, 0)
        XCTAssertEqual(try unlabelled.subset([]).count, 0)
    }

    func testDataErrorDescription() throws {
        XCTAssertEqual(DataError(path: "a/b.gz", problem: "no such file").description, "a/b.gz: no such file")
        XCTAssertEqual(DataError(path: nil, problem: "bad size").description, "bad size")
    }
}
