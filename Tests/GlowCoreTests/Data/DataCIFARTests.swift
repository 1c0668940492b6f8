import Foundation
import XCTest
@testable import GlowCore

final class DataCIFARTests: XCTestCase {
    private var dir = ""
    private typealias S = DataTestSupport

    override func setUpWithError() throws { dir = try S.makeTempDirectory("cifar") }
    override func tearDown() { S.remove(dir) }

    /// Pixel value of record `r`, channel `c`, position `i` (row-major in the 32×32 plane).
    private func value(_ r: Int, _ c: Int, _ i: Int) -> UInt8 { UInt8((r * 7 + c * 50 + i * 3) % 256) }

    /// A batch file of records with the given labels; record `r` is numbered from `first`.
    private func batch(labels: [UInt8], first: Int = 0) -> [UInt8] {
        var bytes = [UInt8]()
        for (k, label) in labels.enumerated() {
            bytes.append(label)
            for c in 0 ..< 3 { for i in 0 ..< 1024 { bytes.append(value(first + k, c, i)) } }
        }
        return bytes
    }

    func testTwoRecordTestBatch() throws {
        try S.write(batch(labels: [6, 2]), to: (dir as NSString).appendingPathComponent("test_batch.bin"))
        let set = try CIFAR10Reader.load(directory: dir, split: "test")
        XCTAssertEqual(set.count, 2)
        XCTAssertEqual(set.channels, 3)
        XCTAssertEqual(set.height, 32)
        XCTAssertEqual(set.width, 32)
        XCTAssertEqual(set.labels, [6, 2])
        XCTAssertEqual(set.classes, 10)
        for r in 0 ..< 2 {
            let image = Array(try set.image(at: r))
            for c in 0 ..< 3 {
                let plane = Array(image[c * 1024 ..< (c + 1) * 1024])
                XCTAssertEqual(plane, (0 ..< 1024).map { value(r, c, $0) }, "record \(r) channel \(c)")
            }
        }
        // Red plane row 1, column 2 of record 1.
        XCTAssertEqual(set.pixels[3072 + 0 * 1024 + 1 * 32 + 2], value(1, 0, 34))
    }

    func testTrainSplitReadsFiveBatchesInOrder() throws {
        let nested = (dir as NSString).appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        for b in 1 ... 5 {
            try S.write(batch(labels: [UInt8(b), UInt8(b + 4)], first: 2 * (b - 1)),
                        to: (nested as NSString).appendingPathComponent("data_batch_\(b).bin"))
        }
        let set = try CIFAR10Reader.load(directory: dir, split: "train")
        XCTAssertEqual(set.count, 10)
        XCTAssertEqual(set.labels, [1, 5, 2, 6, 3, 7, 4, 8, 5, 9])
        XCTAssertEqual(Array(try set.image(at: 7)), (0 ..< 3).flatMap { c in (0 ..< 1024).map { value(7, c, $0) } })
    }

    func testBadFiles() throws {
        let p = (dir as NSString).appendingPathComponent("test_batch.bin")
        S.assertDataError([p, "no such file"]) { try CIFAR10Reader.load(directory: dir, split: "test") }
        try S.write(Array(batch(labels: [1, 2]).dropLast(5)), to: p)
        S.assertDataError([p, "6141 bytes, not a positive multiple of 3073"]) {
            try CIFAR10Reader.load(directory: dir, split: "test")
        }
        try S.write(batch(labels: [1, 12]), to: p)
        S.assertDataError([p, "label 12 of record 1 is outside 0...9"]) {
            try CIFAR10Reader.load(directory: dir, split: "test")
        }
        S.assertDataError(["unknown split"]) { try CIFAR10Reader.load(directory: dir, split: "val") }
    }
}
