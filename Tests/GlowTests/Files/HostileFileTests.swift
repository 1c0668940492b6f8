import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Files that claim sizes they cannot hold, and the inputs the fuzzers of Fuzz/ found: each
/// gets a named error with the file name, before anything of the claimed size is allocated.
final class HostileFileTests: XCTestCase {
    private typealias S = DataTestSupport
    private var dir = ""

    override func setUpWithError() throws { dir = try S.makeTempDirectory("hostile") }
    override func tearDown() { S.remove(dir) }

    private func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// `bytes` gzip-compressed by Python's zlib (`nil` without python3).
    private func gzipped(zeros count: Int, prefix: [UInt8] = [], to name: String) throws -> String? {
        let p = path(name)
        let script = "import gzip,sys; open(sys.argv[1],'wb').write(gzip.compress(bytes.fromhex(sys.argv[2]) + bytes(int(sys.argv[3])), 1, mtime=0))"
        let hex = prefix.map { String(format: "%02x", $0) }.joined()
        return S.python(script, [p, hex, String(count)]) == nil ? nil : p
    }

    /// Overwrites the gzip trailer's ISIZE (the declared length) of the file at `p`.
    private func setDeclaredSize(_ p: String, _ size: UInt32) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        for i in 0 ..< 4 { bytes[bytes.count - 4 + i] = UInt8(truncatingIfNeeded: size >> (8 * UInt32(i))) }
        try S.write(bytes, to: p)
    }

    func testIDXHeaderWithHugeDimensions() throws {
        let p = path("huge-images-idx3-ubyte")
        try S.write(S.be32(0x803) + S.be32(0xFFFF_FFFF) + S.be32(0xFFFF_FFFF) + S.be32(0xFFFF_FFFF) + [1, 2, 3], to: p)
        S.assertDataError([p, "4294967295 images of 4294967295×4294967295", "more bytes than can be addressed"]) {
            try IDXReader.images(path: p)
        }
        // Large but addressable: refused against the file's length, not allocated.
        try S.write(S.be32(0x803) + S.be32(0xFFFF_FFFF) + S.be32(28) + S.be32(28) + [1, 2, 3], to: p)
        S.assertDataError([p, "file holds 19 bytes but the header announces 4294967295 images of 28×28"]) {
            try IDXReader.images(path: p)
        }
        let l = path("huge-labels-idx1-ubyte")
        try S.write(S.be32(0x801) + S.be32(0xFFFF_FFFF) + [1], to: l)
        S.assertDataError([l, "file holds 9 bytes but the header announces 4294967295 labels"]) {
            try IDXReader.labels(path: l)
        }
    }

    func testIDXGzipBombStopsAtTheAnnouncedSize() throws {
        // 4 MB of zeros (4 kB compressed) behind a header announcing 10 images of 28×28.
        guard let p = try gzipped(zeros: 4 << 20, prefix: S.be32(0x803) + S.be32(10) + S.be32(28) + S.be32(28),
                                  to: "bomb-images-idx3-ubyte.gz") else { throw XCTSkip("python3 not available") }
        S.assertDataError([p, "file holds more than 7856 bytes but the header announces 10 images of 28×28"]) {
            try IDXReader.images(path: p)
        }
        // A header announcing more than the compressed file can ever inflate to (1032 × its length).
        guard let q = try gzipped(zeros: 100, prefix: S.be32(0x803) + S.be32(100_000) + S.be32(100) + S.be32(100),
                                  to: "claims-images-idx3-ubyte.gz") else { throw XCTSkip("python3 not available") }
        S.assertDataError([q, "100000 images of 100×100", "more than this", "gzip file can inflate to"]) {
            try IDXReader.images(path: q)
        }
    }

    func testGzipBombIsRefusedAgainstTheLimit() throws {
        guard let p = try gzipped(zeros: 4 << 20, to: "bomb.gz") else { throw XCTSkip("python3 not available") }
        // The trailer declares 4 MB: refused before inflating.
        S.assertDataError([p, "gzip stream declares 4.2 MB of data, more than the 1.0 MB limit"]) {
            _ = try GzipFileReader.read(path: p, limit: 1 << 20)
        }
        // A trailer that lies: refused while inflating, as soon as the output passes the limit.
        try setDeclaredSize(p, 100)
        S.assertDataError([p, "decompresses to more than 1.0 MB, the limit"]) {
            _ = try GzipFileReader.read(path: p, limit: 1 << 20)
        }
        // Within the limit, the lying trailer is caught by zlib's length check.
        S.assertDataError([p]) { _ = try GzipFileReader.read(path: p, limit: 32 << 20) }
    }

    func testCIFARGzipBombIsRefused() throws {
        guard let p = try gzipped(zeros: 3073 * 4, to: "test_batch.bin") else { throw XCTSkip("python3 not available") }
        XCTAssertEqual(try CIFAR10Reader.load(directory: dir, split: "test").count, 4)
        try setDeclaredSize(p, 0xFFFF_FF00)   // claims 4.3 GB, over the 50 000-record limit
        S.assertDataError([p, "gzip stream declares 4.29 GB", "50000 records of 3073 bytes"]) {
            try CIFAR10Reader.load(directory: dir, split: "test")
        }
    }

    /// A PNG chunk: length, type, body, CRC-32 of type and body.
    private func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        var crc: UInt32 = 0xFFFF_FFFF
        for b in typed {
            crc ^= UInt32(b)
            for _ in 0 ..< 8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return S.be32(UInt32(body.count)) + typed + S.be32(~crc)
    }

    func testPNGHeaderOfHugeSizeWithTinyBody() throws {
        let p = path("huge.png")
        let ihdr = S.be32(100_000) + S.be32(100_000) + [8, 0, 0, 0, 0]   // 8-bit gray
        let idat: [UInt8] = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]   // zlib of one zero byte
        try S.write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", idat)
                    + chunk("IEND", []), to: p)
        let length = try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int ?? -1
        for channels in [nil, 1, 3] as [Int?] {
            S.assertDataError([p, "corrupt PNG", "100000×100000 pixels, more than its \(length) bytes can hold"]) {
                try PNGImage.read(path: p, channels: channels)
            }
        }
        S.assertDataError([p, "100000×100000"]) { try PNGFolderReader.load(directory: dir, channels: 1) }
    }

    func testCheckpointConfigAskingForMoreWeightsThanTheFileHolds() throws {
        let b = CPUBackend(threads: 1)
        let (model, _) = try makeTestModel(b, GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 2, hidden: 4, lu: true))
        let good = try Checkpoint.file(model)
        // Sizes past memory or Int range are refused by GlowConfig.validate; a plausible config
        // (K = 1000) that the file's 1-step weights cannot fill is refused by the length check.
        for (key, value, message) in [("\"K\":1", "\"K\":1000000000", "config K/L/hidden"),
                                      ("\"hidden\":4", "\"hidden\":10000000", "config K/L/hidden"),
                                      ("\"K\":1", "\"K\":4611686018427387904", "past the largest integer"),
                                      ("\"image_shape\":[1", "\"image_shape\":[4611686018427387904", "past the largest integer"),
                                      ("\"K\":1", "\"K\":1000", "needs more weights than the")] {
            var f = good
            f.metadata["config"] = good.metadata["config"]!.replacingOccurrences(of: key, with: value)
            XCTAssertNotEqual(f.metadata["config"], good.metadata["config"], "test setup: the config JSON spells \(key)")
            let p = path("huge-config.safetensors")
            try f.write(path: p)
            assertGlowError(value, contains: [p, message]) { _ = try Checkpoint.load(p, backend: b) }
        }
    }

    /// A sparse file of `size` bytes starting with `prefix` (no disk space used).
    private func sparse(_ name: String, size: UInt64, prefix: [UInt8] = []) throws -> String {
        let p = path(name)
        try S.write(prefix, to: p)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
        try h.truncate(atOffset: size)
        try h.close()
        return p
    }

    func testFilesLargerThanMemoryAreRefusedBeforeReading() throws {
        let tb: UInt64 = 1 << 40
        let st = try sparse("big.safetensors", size: tb)
        XCTAssertThrowsError(try SafeTensorsFile.read(path: st)) { e in
            XCTAssertTrue("\(e)".contains("file is 1099.51 GB, more than the"), "\(e)")
            XCTAssertTrue("\(e)".contains("of memory available"), "\(e)")
        }
        let b = CPUBackend(threads: 1)
        assertGlowError("checkpoint", contains: [st, "of memory available"]) { _ = try Checkpoint.load(st, backend: b) }
        // The header's 3.4 TB fit in the (sparse) file, but not in memory.
        let idx = try sparse("big-images-idx3-ubyte", size: 4 * tb,
                             prefix: S.be32(0x803) + S.be32(0xFFFF_FFFF) + S.be32(28) + S.be32(28))
        S.assertDataError([idx, "announces 4294967295 images of 28×28", "of memory available"]) { try IDXReader.images(path: idx) }
        let cifar = try sparse("test_batch.bin", size: tb)
        S.assertDataError([cifar, "is 1099.51 GB, more than the 153.7 MB limit (50000 records of 3073 bytes)"]) {
            try CIFAR10Reader.load(directory: dir, split: "test")
        }
    }

    /// A device, a pipe or a folder given as a checkpoint is refused by its kind before any
    /// byte is read: `/dev/zero` never ends and has no size (it once filled memory).
    func testNonRegularFilesAreRefusedByKind() throws {
        XCTAssertThrowsError(try SafeTensorsFile.read(path: "/dev/zero")) { e in
            XCTAssertTrue("\(e)".contains("/dev/zero: is a character device, not a regular file"), "\(e)")
        }
        XCTAssertThrowsError(try SafeTensorsFile.read(path: dir)) { e in
            XCTAssertTrue("\(e)".contains("is a folder, not a regular file"), "\(e)")
        }
        let fifo = path("pipe.safetensors")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // O_RDONLY on a FIFO waits for a writer: keep one open for the read's duration.
        let writer = open(fifo, O_RDWR | O_NONBLOCK)
        defer { close(writer) }
        XCTAssertThrowsError(try SafeTensorsFile.read(path: fifo)) { e in
            XCTAssertTrue("\(e)".contains("is a pipe, not a regular file"), "\(e)")
        }
        let b = CPUBackend(threads: 1)
        assertGlowError("checkpoint", contains: ["/dev/zero", "not a regular file"]) { _ = try Checkpoint.load("/dev/zero", backend: b) }
    }

    /// A second holder of a run folder's lock is refused with the first one's process id;
    /// the lock goes with its holder.
    func testRunLockNamesTheHolder() throws {
        let run = path("run")
        var first: RunLock? = try RunLock(directory: run)
        XCTAssertThrowsError(try RunLock(directory: run)) { e in
            XCTAssertTrue("\(e)".contains("is in use by another glow-gpu train (process \(getpid()))"), "\(e)")
        }
        _ = first
        first = nil
        XCTAssertNoThrow(try RunLock(directory: run))
    }
}
