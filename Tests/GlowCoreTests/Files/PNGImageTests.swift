import Foundation
import XCTest
@testable import GlowCore

final class PNGImageTests: XCTestCase {
    private var dir = ""
    private typealias S = DataTestSupport

    override func setUpWithError() throws { dir = try S.makeTempDirectory("png") }
    override func tearDown() { S.remove(dir) }

    private func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    func testGrayRoundTrip() throws {
        let (w, h) = (7, 5)
        let pixels = (0 ..< w * h).map { UInt8(($0 * 53 + 11) % 256) }
        let p = path("gray.png")
        try PNGImage.write(path: p, width: w, height: h, channels: 1, pixels: pixels)
        let image = try PNGImage.read(path: p)
        XCTAssertEqual(image.width, w)
        XCTAssertEqual(image.height, h)
        XCTAssertEqual(image.channels, 1)
        XCTAssertEqual(image.pixels, pixels)
        // Gray read as RGB replicates the value.
        let rgb = try PNGImage.read(path: p, channels: 3)
        XCTAssertEqual(rgb.channels, 3)
        XCTAssertEqual(rgb.pixels, pixels.flatMap { [$0, $0, $0] })
    }

    func testRGBRoundTrip() throws {
        let (w, h) = (6, 4)
        let pixels = (0 ..< w * h * 3).map { UInt8(($0 * 97 + 3) % 256) }
        let p = path("rgb.png")
        try PNGImage.write(path: p, width: w, height: h, channels: 3, pixels: pixels)
        let image = try PNGImage.read(path: p)
        XCTAssertEqual(image.width, w)
        XCTAssertEqual(image.height, h)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image.pixels, pixels)
    }

    /// PNGs written by a minimal python3 encoder (zlib + struct only), in several formats.
    func testFilesWrittenByPython() throws {
        let script = """
        import struct, sys, zlib, os
        d = sys.argv[1]; W, H = 5, 3
        def v(x, y, c): return (x * 40 + y * 70 + c * 25) % 256
        def chunk(t, data): return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data) & 0xffffffff)
        def png(name, ct, depth, rows, extra=b''):
            raw = b''.join(b'\\x00' + r for r in rows)
            data = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', W, H, depth, ct, 0, 0, 0)) + extra
            data += chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
            open(os.path.join(d, name), 'wb').write(data)
        def a(x, y): return (x * 50 + y * 20 + 10) % 256
        png('gray8.png', 0, 8, [bytes(v(x, y, 0) for x in range(W)) for y in range(H)])
        png('rgb8.png', 2, 8, [bytes(v(x, y, c) for x in range(W) for c in range(3)) for y in range(H)])
        png('gray16.png', 0, 16, [b''.join(struct.pack('>H', v(x, y, 0) * 257) for x in range(W)) for y in range(H)])
        png('rgb16.png', 2, 16, [b''.join(struct.pack('>H', v(x, y, c) * 257) for x in range(W) for c in range(3)) for y in range(H)])
        png('rgba8.png', 6, 8, [bytes(b for x in range(W) for b in (v(x, y, 0), v(x, y, 1), v(x, y, 2), a(x, y))) for y in range(H)])
        png('ga8.png', 4, 8, [bytes(b for x in range(W) for b in (v(x, y, 0), a(x, y))) for y in range(H)])
        pal = b''.join(bytes((k * 60, 255 - k * 50, k * 20 + 3)) for k in range(4))
        png('pal.png', 3, 8, [bytes((x + y) % 4 for x in range(W)) for y in range(H)], chunk(b'PLTE', pal))
        print('ok')
        """
        guard S.python(script, [dir]) != nil else { throw XCTSkip("python3 not available") }
        let (w, h) = (5, 3)
        func v(_ x: Int, _ y: Int, _ c: Int) -> UInt8 { UInt8((x * 40 + y * 70 + c * 25) % 256) }
        var gray = [UInt8](), rgb = [UInt8](), palette = [UInt8]()
        for y in 0 ..< h {
            for x in 0 ..< w {
                gray.append(v(x, y, 0))
                rgb += [v(x, y, 0), v(x, y, 1), v(x, y, 2)]
                let k = (x + y) % 4
                palette += [UInt8(k * 60), UInt8(255 - k * 50), UInt8(k * 20 + 3)]
            }
        }
        let expected: [(String, Int, [UInt8])] = [
            ("gray8.png", 1, gray), ("rgb8.png", 3, rgb), ("gray16.png", 1, gray), ("rgb16.png", 3, rgb),
            ("rgba8.png", 3, rgb), ("ga8.png", 1, gray), ("pal.png", 3, palette),
        ]
        for (name, channels, pixels) in expected {
            let image = try PNGImage.read(path: path(name))
            XCTAssertEqual(image.width, w, name)
            XCTAssertEqual(image.height, h, name)
            XCTAssertEqual(image.channels, channels, name)
            XCTAssertEqual(image.pixels, pixels, name)
        }
    }

    func testCorruptAndMissingFiles() throws {
        let junk = path("junk.png")
        try S.write(Array("this is not a PNG file at all".utf8), to: junk)
        S.assertDataError([junk, "PNG"]) { try PNGImage.read(path: junk) }

        // A valid PNG cut short inside its image data.
        let good = path("good.png")
        try PNGImage.write(path: good, width: 64, height: 64, channels: 3,
                           pixels: (0 ..< 64 * 64 * 3).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let cut = path("cut.png")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        S.assertDataError([cut, "PNG"]) { try PNGImage.read(path: cut) }

        let missing = path("missing.png")
        S.assertDataError([missing, "no such file"]) { try PNGImage.read(path: missing) }
        let nowhere = path("no/such/folder/out.png")
        S.assertDataError([nowhere, "cannot write PNG"]) {
            try PNGImage.write(path: nowhere, width: 1, height: 1, channels: 1, pixels: [0])
        }
        S.assertDataError([good, "4 pixel bytes"]) {
            try PNGImage.write(path: good, width: 2, height: 2, channels: 3, pixels: [1, 2, 3, 4])
        }
        S.assertDataError([good, "2 channels"]) {
            try PNGImage.write(path: good, width: 1, height: 1, channels: 2, pixels: [1, 2])
        }
    }

    func testFolderReader() throws {
        // Written out of name order; gray 3×2 images whose pixels encode their name.
        let names = ["b.png", "a.png", "c.PNG"]
        for name in names {
            let base = Int(name.unicodeScalars.first!.value - 97) * 10
            try PNGImage.write(path: path(name), width: 3, height: 2, channels: 1,
                               pixels: (0 ..< 6).map { UInt8(base + $0) })
        }
        try S.write([1, 2, 3], to: path("notes.txt"))
        let gray = try PNGFolderReader.load(directory: dir, channels: 1)
        XCTAssertEqual(gray.count, 3)
        XCTAssertEqual(gray.channels, 1)
        XCTAssertEqual(gray.height, 2)
        XCTAssertEqual(gray.width, 3)
        XCTAssertNil(gray.labels)
        XCTAssertEqual(gray.classes, 0)
        XCTAssertEqual(gray.pixels, [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25])

        let rgb = try PNGFolderReader.load(directory: dir, channels: 3)
        XCTAssertEqual(rgb.channels, 3)
        // CHW: each image is its gray plane three times.
        XCTAssertEqual(Array(try rgb.image(at: 1)), Array(repeating: [10, 11, 12, 13, 14, 15], count: 3).flatMap { $0 })

        // An RGB file read as 1 channel, and planes split from interleaved pixels.
        let colour = try S.makeTempDirectory("png-rgb")
        defer { S.remove(colour) }
        let hwc: [UInt8] = [10, 20, 30, 40, 50, 60]   // 2×1 pixels
        try PNGImage.write(path: (colour as NSString).appendingPathComponent("x.png"), width: 2, height: 1,
                           channels: 3, pixels: hwc)
        XCTAssertEqual(try PNGFolderReader.load(directory: colour, channels: 3).pixels, [10, 40, 20, 50, 30, 60])
        let mono = try PNGFolderReader.load(directory: colour, channels: 1)
        XCTAssertEqual(mono.channels, 1)
        XCTAssertEqual(mono.pixels.count, 2)

        try PNGImage.write(path: path("d.png"), width: 2, height: 2, channels: 1, pixels: [0, 0, 0, 0])
        S.assertDataError([path("d.png"), "size 2×2 differs from 3×2 of a.png"]) {
            try PNGFolderReader.load(directory: dir, channels: 1)
        }
        let empty = try S.makeTempDirectory("png-empty")
        defer { S.remove(empty) }
        S.assertDataError([empty, "no .png files"]) { try PNGFolderReader.load(directory: empty, channels: 1) }
    }
}
