import Foundation
import XCTest
@testable import GlowCore

final class DataIDXTests: XCTestCase {
    private var dir = ""
    private typealias S = DataTestSupport

    override func setUpWithError() throws { dir = try S.makeTempDirectory("idx") }
    override func tearDown() { S.remove(dir) }

    private func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// Three 2×4 images with distinct pixels and labels [3, 0, 9].
    private let pixels: [UInt8] = (0 ..< 24).map { UInt8(($0 * 37 + 5) % 256) }
    private let labels: [UInt8] = [3, 0, 9]

    private func writeSmallSet(prefix: String) throws -> (images: String, labels: String) {
        let images = path("\(prefix)-images-idx3-ubyte"), labelsPath = path("\(prefix)-labels-idx1-ubyte")
        try S.write(S.idxImages(count: 3, height: 2, width: 4, pixels: pixels), to: images)
        try S.write(S.idxLabels(labels: labels), to: labelsPath)
        return (images, labelsPath)
    }

    func testRawFilesReadBack() throws {
        let files = try writeSmallSet(prefix: "train")
        let images = try IDXReader.images(path: files.images)
        XCTAssertEqual(images.count, 3)
        XCTAssertEqual(images.height, 2)
        XCTAssertEqual(images.width, 4)
        XCTAssertEqual(images.pixels, pixels)
        XCTAssertEqual(try IDXReader.labels(path: files.labels), [3, 0, 9])

        let set = try IDXReader.load(directory: dir, split: "train")
        XCTAssertEqual(set.count, 3)
        XCTAssertEqual(set.channels, 1)
        XCTAssertEqual(set.height, 2)
        XCTAssertEqual(set.width, 4)
        XCTAssertEqual(set.pixels, pixels)
        XCTAssertEqual(set.labels, [3, 0, 9])
        XCTAssertEqual(set.classes, 10)
        XCTAssertEqual(Array(try set.image(at: 1)), Array(pixels[8 ..< 16]))
    }

    func testGzippedFilesReadBack() throws {
        let files = try writeSmallSet(prefix: "t10k")
        guard let gzImages = S.gzip(files.images), let gzLabels = S.gzip(files.labels) else {
            throw XCTSkip("gzip not available")
        }
        // Leave only the .gz files so load() must pick them.
        try FileManager.default.removeItem(atPath: files.images)
        try FileManager.default.removeItem(atPath: files.labels)
        // It really is compressed: gzip magic 1f 8b.
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: gzImages)).prefix(2)), [0x1F, 0x8B])
        let set = try IDXReader.load(directory: dir, split: "test")
        XCTAssertEqual(set.pixels, pixels)
        XCTAssertEqual(set.labels, [3, 0, 9])
        XCTAssertEqual(try IDXReader.labels(path: gzLabels), [3, 0, 9])
    }

    func testBadMagic() throws {
        let p = path("bad-images-idx3-ubyte")
        try S.write(S.idxImages(magic: 0, count: 1, height: 1, width: 1, pixels: [0]), to: p)
        S.assertDataError([p, "bad magic number 0x00000000, expected 0x00000803 (IDX images)"]) {
            try IDXReader.images(path: p)
        }
        let l = path("bad-labels-idx1-ubyte")
        try S.write(S.idxLabels(magic: 0x0000_0803, labels: [1]), to: l)
        S.assertDataError([l, "bad magic number 0x00000803, expected 0x00000801 (IDX labels)"]) {
            try IDXReader.labels(path: l)
        }
    }

    func testTruncatedFiles() throws {
        let p = path("short-images-idx3-ubyte")
        try S.write(S.idxImages(count: 5, height: 28, width: 28, pixels: [UInt8](repeating: 1, count: 100)), to: p)
        S.assertDataError([p, "file holds 116 bytes but the header announces 5 images of 28×28 (3936 bytes)"]) {
            try IDXReader.images(path: p)
        }
        let l = path("short-labels-idx1-ubyte")
        try S.write(S.idxLabels(labels: [1, 2]).dropLast(), to: l)
        S.assertDataError([l, "file holds 9 bytes but the header announces 2 labels (10 bytes)"]) {
            try IDXReader.labels(path: l)
        }
        let h = path("header-images-idx3-ubyte")
        try S.write([0, 0, 8, 3, 0], to: h)
        S.assertDataError([h, "too short"]) { try IDXReader.images(path: h) }
    }

    func testTruncatedGzipStream() throws {
        let raw = path("big-images-idx3-ubyte")
        let bytes = (0 ..< 20_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try S.write(S.idxImages(count: 25, height: 20, width: 40, pixels: bytes), to: raw)
        guard let gz = S.gzip(raw) else { throw XCTSkip("gzip not available") }
        let full = try Data(contentsOf: URL(fileURLWithPath: gz))
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: gz))
        S.assertDataError([gz]) { try IDXReader.images(path: gz) }
    }

    func testLabelImageCountMismatch() throws {
        try S.write(S.idxImages(count: 12, height: 1, width: 2, pixels: [UInt8](repeating: 7, count: 24)),
                    to: path("train-images-idx3-ubyte"))
        try S.write(S.idxLabels(labels: [UInt8](repeating: 4, count: 10)), to: path("train-labels-idx1-ubyte"))
        S.assertDataError(["train-labels-idx1-ubyte", "labels file has 10 labels but images file has 12 images"]) {
            try IDXReader.load(directory: dir, split: "train")
        }
    }

    func testLabelOutOfRange() throws {
        let l = path("range-labels-idx1-ubyte")
        try S.write(S.idxLabels(labels: [1, 10, 2]), to: l)
        S.assertDataError([l, "label 10 of item 1 is outside 0...9"]) { try IDXReader.labels(path: l) }
    }

    func testMissingFilesAndBadSplit() throws {
        let p = path("nothing-images-idx3-ubyte.gz")
        S.assertDataError([p, "no such file"]) { try IDXReader.images(path: p) }
        S.assertDataError(["train-images-idx3-ubyte", "no such file"]) {
            try IDXReader.load(directory: dir, split: "train")
        }
        S.assertDataError(["unknown split 'valid'"]) { try IDXReader.load(directory: dir, split: "valid") }
    }

    /// The real MNIST test split, checked against an independent parse by python3's gzip module.
    func testRealMNISTTestSplit() throws {
        let mnist = TestPaths.root.appendingPathComponent("data/mnist").path
        guard FileManager.default.fileExists(atPath: (mnist as NSString).appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
            || FileManager.default.fileExists(atPath: (mnist as NSString).appendingPathComponent("t10k-labels-idx1-ubyte")) else {
            throw XCTSkip("MNIST not found at \(mnist)")
        }
        let set = try IDXReader.load(directory: mnist, split: "test")
        XCTAssertEqual(set.count, 10_000)
        XCTAssertEqual(set.height, 28)
        XCTAssertEqual(set.width, 28)
        XCTAssertEqual(set.channels, 1)
        XCTAssertEqual(set.classes, 10)
        let labels = try XCTUnwrap(set.labels)
        var histogram = [Int](repeating: 0, count: 10)
        for label in labels { histogram[label] += 1 }
        XCTAssertEqual(histogram.reduce(0, +), 10_000)
        XCTAssertTrue(histogram.allSatisfy { $0 > 500 }, "\(histogram)")

        let script = """
        import gzip, os, sys
        d = sys.argv[1]
        def load(name):
            p = os.path.join(d, name)
            return open(p, 'rb').read() if os.path.exists(p) else gzip.open(p + '.gz').read()
        img = load('t10k-images-idx3-ubyte'); lab = load('t10k-labels-idx1-ubyte')
        print(' '.join(str(b) for b in lab[8:18]))
        print(' '.join(str(lab[8:].count(k)) for k in range(10)))
        print(sum(img[16:16 + 784]), sum(img[16:]), img[16 + 784 * 9999 + 400])
        """
        guard let output = S.python(script, [mnist]) else { throw XCTSkip("python3 not available") }
        let lines = output.split(separator: "\n").map { $0.split(separator: " ").map { Int($0)! } }
        XCTAssertEqual(Array(labels.prefix(10)), lines[0])
        XCTAssertEqual(histogram, lines[1])
        XCTAssertEqual(try set.image(at: 0).reduce(0) { $0 + Int($1) }, lines[2][0])
        XCTAssertEqual(set.pixels.reduce(0) { $0 + Int($1) }, lines[2][1])
        XCTAssertEqual(Int(set.pixels[784 * 9999 + 400]), lines[2][2])
    }
}
