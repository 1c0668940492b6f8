import Foundation
import XCTest
@testable import GlowCore

final class SafeTensorsTests: XCTestCase {
    private var tmpDir: String = ""

    override func setUpWithError() throws {
        tmpDir = NSTemporaryDirectory() + "safetensors-tests-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmpDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: tmpDir)
    }

    // MARK: - Fixtures

    /// Deterministic pseudo-random floats (SplitMix64), so failures reproduce.
    private func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<n).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(Double(z >> 11) / Double(1 << 53) * 8 - 4)
        }
    }

    private func sampleFile() throws -> SafeTensorsFile {
        var f = SafeTensorsFile(metadata: ["format": "glow", "note": "quote \" slash \\ newline \n é"])
        try f.add("levels.0.actnorm.bias", shape: [3, 4, 5], floats: randomFloats(60, seed: 1))
        try f.add("step", shape: [4], ints: [0, -1, Int64.max, Int64.min])
        try f.add("scalar", shape: [], floats: [3.5])
        try f.add("empty", shape: [0, 3], floats: [])
        try f.add("emptyInts", shape: [2, 0], ints: [])
        try f.add("odd \"name\"\t/ü", shape: [1, 1, 3], floats: [-0.0, .infinity, .leastNonzeroMagnitude])
        return f
    }

    /// Builds a file image by hand: length, header text (unpadded), data.
    private func rawFile(header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        var out: [UInt8] = []
        var n = UInt64(h.count)
        for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
        return out + h + data
    }

    private func assertDecodeFails(_ bytes: [UInt8], _ phrase: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile.decode(bytes, source: "bad.safetensors"), file: file, line: line) { error in
            guard let e = error as? SafeTensorsError else {
                return XCTFail("not a SafeTensorsError: \(error)", file: file, line: line)
            }
            XCTAssertTrue(e.message.hasPrefix("bad.safetensors: "), e.message, file: file, line: line)
            XCTAssertTrue(e.message.contains(phrase), "'\(e.message)' lacks '\(phrase)'", file: file, line: line)
        }
    }

    private func message(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch { return (error as? SafeTensorsError)?.message }
    }

    // MARK: - Round trip and layout

    func testRoundTripThroughDisk() throws {
        let f = try sampleFile()
        let path = tmpDir + "/model.safetensors"
        try f.write(path: path)
        let g = try SafeTensorsFile.read(path: path)

        XCTAssertEqual(g.source, path)
        XCTAssertEqual(g.metadata, f.metadata)
        XCTAssertEqual(g.tensors.map(\.name), f.tensors.map(\.name), "file order preserved")
        XCTAssertEqual(g.tensors, f.tensors)
        XCTAssertEqual(g["step"]?.ints, [0, -1, Int64.max, Int64.min])
        XCTAssertEqual(g["scalar"]?.shape, [])
        XCTAssertEqual(g["scalar"]?.floats, [3.5])
        XCTAssertEqual(g["scalar"]?.count, 1)
        XCTAssertEqual(g["empty"]?.shape, [0, 3])
        XCTAssertEqual(g["empty"]?.floats, [])
        XCTAssertEqual(g["emptyInts"]?.ints, [])
        XCTAssertNil(g["step"]?.floats)
        XCTAssertNil(g["nope"])
        let odd = try XCTUnwrap(g["odd \"name\"\t/ü"]?.floats)
        XCTAssertEqual(odd[0].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(odd[1], .infinity)
        XCTAssertEqual(odd[2], .leastNonzeroMagnitude)
        let bias = try g.requireFloats("levels.0.actnorm.bias", shape: [3, 4, 5])
        XCTAssertEqual(bias.map(\.bitPattern), randomFloats(60, seed: 1).map(\.bitPattern))
        XCTAssertEqual(try g.requireInts("step", shape: [4]), [0, -1, Int64.max, Int64.min])

        // Bytes are reproducible: re-encoding the read file gives the same image.
        XCTAssertEqual(try g.encode(), try f.encode())
        XCTAssertEqual(try g.encode(), Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func testNaNBitsSurvive() throws {
        let nan = Float(bitPattern: 0x7FC0_1234)
        var f = SafeTensorsFile()
        try f.add("n", shape: [1], floats: [nan])
        let g = try SafeTensorsFile.decode(try f.encode(), source: "mem")
        XCTAssertEqual(g["n"]?.floats?.first?.bitPattern, 0x7FC0_1234)
    }

    func testHeaderLayoutParsedByHand() throws {
        var f = SafeTensorsFile(metadata: ["k": "v"])
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        try f.add("a", shape: [2, 3], floats: a)
        try f.add("b", shape: [2], ints: [7, -8])
        try f.add("c", shape: [], floats: [0.25])
        let bytes = try f.encode()

        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        XCTAssertEqual(n % 8, 0, "header padded to a multiple of 8")
        XCTAssertEqual(bytes.count, 8 + n + 24 + 16 + 4)
        let headerBytes = Array(bytes[8..<(8 + n)])
        let text = try XCTUnwrap(String(bytes: headerBytes, encoding: .utf8))
        XCTAssertTrue(text.hasPrefix("{"))
        XCTAssertTrue(text.trimmingCharacters(in: .init(charactersIn: " ")).hasSuffix("}"))
        // Keys appear in tensor order.
        let ia = try XCTUnwrap(text.range(of: "\"a\""))
        let ib = try XCTUnwrap(text.range(of: "\"b\""))
        XCTAssertLessThan(ia.lowerBound, ib.lowerBound)

        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any])
        XCTAssertEqual(json["__metadata__"] as? [String: String], ["k": "v"])
        func entry(_ k: String) throws -> [String: Any] { try XCTUnwrap(json[k] as? [String: Any]) }
        XCTAssertEqual(try entry("a")["dtype"] as? String, "F32")
        XCTAssertEqual(try entry("a")["shape"] as? [Int], [2, 3])
        XCTAssertEqual(try entry("a")["data_offsets"] as? [Int], [0, 24])
        XCTAssertEqual(try entry("b")["dtype"] as? String, "I64")
        XCTAssertEqual(try entry("b")["data_offsets"] as? [Int], [24, 40])
        XCTAssertEqual(try entry("c")["shape"] as? [Int], [])
        XCTAssertEqual(try entry("c")["data_offsets"] as? [Int], [40, 44])

        // Data section decoded by hand from little-endian bytes.
        let data = Array(bytes[(8 + n)...])
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(data[o + $1]) << (8 * UInt32($1)) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(data[o + $1]) << (8 * UInt64($1)) } }
        XCTAssertEqual((0..<6).map { Float(bitPattern: u32(4 * $0)) }, a)
        XCTAssertEqual(Int64(bitPattern: u64(24)), 7)
        XCTAssertEqual(Int64(bitPattern: u64(32)), -8)
        XCTAssertEqual(Float(bitPattern: u32(40)), 0.25)
    }

    func testEmptyFileEncodes() throws {
        let bytes = try SafeTensorsFile().encode()
        XCTAssertEqual(bytes.count, 16)   // length + "{}" padded to 8
        let g = try SafeTensorsFile.decode(bytes, source: "e")
        XCTAssertTrue(g.tensors.isEmpty)
        XCTAssertTrue(g.metadata.isEmpty)
    }

    func testUnalignedDataAndUnpaddedHeader() throws {
        // Header of odd length: the data section starts at an odd address.
        let header = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}"# + " "
        XCTAssertNotEqual(Array(header.utf8).count % 8, 0)
        var data: [UInt8] = []
        for v: Float in [1.5, -2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        withUnsafeBytes(of: Int64(-123456789012).littleEndian) { data += $0 }
        let g = try SafeTensorsFile.decode(rawFile(header: header, data: data), source: "u")
        XCTAssertEqual(try g.requireFloats("x", shape: [2]), [1.5, -2])
        XCTAssertEqual(try g.requireInts("y", shape: [1]), [-123456789012])
    }

    func testFileOrderFollowsOffsets() throws {
        let header = #"{"late":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"early":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var data: [UInt8] = []
        for v: Float in [1, 2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        let g = try SafeTensorsFile.decode(rawFile(header: header, data: data), source: "o")
        XCTAssertEqual(g.tensors.map(\.name), ["early", "late"])
        XCTAssertEqual(g["late"]?.floats, [2])
    }

    func testAddReplacesAndValidates() throws {
        var f = SafeTensorsFile()
        try f.add("a", shape: [2], floats: [1, 2])
        try f.add("b", shape: [1], ints: [5])
        try f.add("a", shape: [1], floats: [9])
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(f["a"]?.floats, [9])
        XCTAssertEqual(message { try f.add("c", shape: [2, 2], floats: [1, 2, 3]) },
                       "<in-memory safetensors>: tensor 'c' has 3 F32 values but shape [2, 2] needs 4")
        XCTAssertEqual(message { try f.add("d", shape: [3], ints: [1]) },
                       "<in-memory safetensors>: tensor 'd' has 1 I64 values but shape [3] needs 3")
        XCTAssertNotNil(message { try f.add("e", shape: [-1, 0], floats: []) }?.range(of: "negative dimension -1"))
        XCTAssertEqual(f.tensors.count, 2, "failed adds change nothing")

        // encode() re-validates tensors built directly.
        var g = SafeTensorsFile(tensors: [NamedTensor(name: "z", shape: [5], data: .f32([1]))])
        XCTAssertNotNil(message { try g.encode() }?.range(of: "tensor 'z' has 1 F32 values but shape [5] needs 5"))
        g.tensors = [NamedTensor(name: "z", shape: [1], data: .f32([1])), NamedTensor(name: "z", shape: [1], data: .i64([1]))]
        XCTAssertNotNil(message { try g.encode() }?.range(of: "tensor 'z' appears more than once"))
        g.tensors = [NamedTensor(name: "__metadata__", shape: [], data: .f32([1]))]
        XCTAssertNotNil(message { try g.encode() }?.range(of: "cannot be named '__metadata__'"))
        XCTAssertThrowsError(try g.write(path: tmpDir + "/never.safetensors"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmpDir), [])
    }

    // MARK: - Bad files

    func testTruncatedAndBadHeaderLength() throws {
        XCTAssertEqual(message { try SafeTensorsFile.decode([UInt8](repeating: 0, count: 5), source: "model.safetensors") },
                       "model.safetensors: file is 5 bytes, too short for the 8-byte header length")
        assertDecodeFails([], "file is 0 bytes, too short for the 8-byte header length")

        var big = [UInt8](repeating: 0, count: 1000)
        big[0] = 0x00; big[1] = 0x10   // 4096
        XCTAssertEqual(message { try SafeTensorsFile.decode(big, source: "model.safetensors") },
                       "model.safetensors: header length 4096 runs past the end of the file (file is 1000 bytes)")
        // A header over the 100 MB cap is refused before any JSON parsing.
        var huge = [UInt8](repeating: 0x20, count: 100_000_016)
        for i in 0..<8 { huge[i] = UInt8(truncatingIfNeeded: 100_000_001 >> (8 * i)) }
        assertDecodeFails(huge, "header length 100000001 exceeds the 100000000-byte limit")
        assertDecodeFails([UInt8](repeating: 0xff, count: 16),
                          "header length 18446744073709551615 runs past the end of the file (file is 16 bytes)")

        // A valid file truncated anywhere must throw, never crash.
        let good = try sampleFile().encode()
        for cut in 0..<good.count {
            XCTAssertThrowsError(try SafeTensorsFile.decode(Array(good[..<cut]), source: "t"), "cut \(cut)")
        }
    }

    func testBadJSON() {
        assertDecodeFails(rawFile(header: "{not json", data: []), "header is not valid JSON")
        assertDecodeFails(rawFile(header: "", data: []), "header is not valid JSON")
        assertDecodeFails(rawFile(header: "[1, 2]", data: []), "header is not a JSON object")
        // Deep nesting must be rejected by the parser, not overflow the stack.
        assertDecodeFails(rawFile(header: String(repeating: "[", count: 200_000), data: []), "header is not valid JSON")
        assertDecodeFails(rawFile(header: #"{"a": 5}"#, data: []), "tensor 'a' entry is not a JSON object")
        assertDecodeFails(rawFile(header: #"{"__metadata__": {"k": 1}}"#, data: []),
                          "__metadata__ value for 'k' is not a string")
        assertDecodeFails(rawFile(header: #"{"__metadata__": []}"#, data: []), "__metadata__ is not a JSON object")
        var invalidUTF8 = rawFile(header: #"{"a":"xx"}"#, data: [])
        invalidUTF8[14] = 0xff
        assertDecodeFails(invalidUTF8, "header is not valid JSON")
    }

    func testBadTensorEntries() {
        let d16 = [UInt8](repeating: 0, count: 16)
        func entry(_ body: String, data: [UInt8]) -> [UInt8] { rawFile(header: #"{"a":{"# + body + "}}", data: data) }

        assertDecodeFails(entry(#""dtype":"BF16","shape":[2],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "tensor 'a' has dtype BF16; only F32 and I64 are supported")
        assertDecodeFails(entry(#""shape":[2],"data_offsets":[0,8]"#, data: []), "tensor 'a' has no string dtype")
        assertDecodeFails(entry(#""dtype":"F32","data_offsets":[0,8]"#, data: []), "tensor 'a' has no shape array")
        assertDecodeFails(entry(#""dtype":"F32","shape":[2,2],"data_offsets":[0,12]"#, data: Array(d16[..<12])),
                          "tensor 'a' data_offsets [0, 12] hold 12 bytes but shape [2, 2] of F32 needs 16")
        assertDecodeFails(entry(#""dtype":"I64","shape":[3],"data_offsets":[0,16]"#, data: d16),
                          "tensor 'a' data_offsets [0, 16] hold 16 bytes but shape [3] of I64 needs 24")
        assertDecodeFails(entry(#""dtype":"F32","shape":[100],"data_offsets":[0,400]"#, data: [UInt8](repeating: 0, count: 96)),
                          "tensor 'a' data_offsets end 400 past the data section (96 bytes)")
        assertDecodeFails(entry(#""dtype":"F32","shape":[1],"data_offsets":[8,4]"#, data: d16),
                          "tensor 'a' data_offsets [8, 4] have begin after end")
        assertDecodeFails(entry(#""dtype":"F32","shape":[1],"data_offsets":[-4,0]"#, data: d16),
                          "tensor 'a' data_offsets [-4, 0] are not non-negative integers")
        assertDecodeFails(entry(#""dtype":"F32","shape":[1],"data_offsets":[0]"#, data: d16),
                          "tensor 'a' has no data_offsets array of two integers")
        assertDecodeFails(entry(#""dtype":"F32","shape":[1],"data_offsets":[0,1e30]"#, data: d16),
                          "are not non-negative integers")
        assertDecodeFails(entry(#""dtype":"F32","shape":[-1],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "tensor 'a' shape entry -1 is not a non-negative integer")
        assertDecodeFails(entry(#""dtype":"F32","shape":[1.5],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "tensor 'a' shape entry 1.5 is not a non-negative integer")
        assertDecodeFails(entry(#""dtype":"F32","shape":[true],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "tensor 'a' shape entry true is not a non-negative integer")
        assertDecodeFails(entry(#""dtype":"F32","shape":["1"],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "tensor 'a' shape entry \"1\" is not a non-negative integer")
        assertDecodeFails(entry(#""dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "is not a non-negative integer")
        assertDecodeFails(entry(#""dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "tensor 'a' shape [4294967296, 4294967296] is too large")
        assertDecodeFails(entry(#""dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,4]"#, data: [0, 0, 0, 0]),
                          "is too large")
    }

    func testOverlapGapAndTrailingBytes() {
        let d16 = [UInt8](repeating: 0, count: 16)
        assertDecodeFails(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: Array(d16[..<12])),
                          "tensor 'b' data_offsets [4, 12] overlap tensor 'a'")
        assertDecodeFails(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: Array(d16[..<12])),
                          "tensor 'b' data_offsets [8, 12] leave a gap of 4 bytes before them")
        assertDecodeFails(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: d16),
                          "data section has 12 trailing bytes not covered by any tensor")
    }

    func testRequireHelpers() throws {
        var f = SafeTensorsFile()
        try f.add("x", shape: [3], ints: [1, 2, 3])
        try f.add("y", shape: [3], floats: [1, 2, 3])
        let path = tmpDir + "/model.safetensors"
        try f.write(path: path)
        let g = try SafeTensorsFile.read(path: path)

        XCTAssertEqual(message { try g.requireFloats("levels.0.actnorm.bias", shape: [4]) },
                       "\(path): missing tensor 'levels.0.actnorm.bias'")
        XCTAssertEqual(message { try g.requireFloats("y", shape: [4]) },
                       "\(path): tensor 'y' has shape [3] but [4] was expected")
        XCTAssertEqual(message { try g.requireFloats("x", shape: [3]) },
                       "\(path): tensor 'x' is I64 but F32 was expected")
        XCTAssertEqual(message { try g.requireInts("y", shape: [3]) },
                       "\(path): tensor 'y' is F32 but I64 was expected")
        XCTAssertEqual(message { try g.requireInts("x", shape: [1, 3]) },
                       "\(path): tensor 'x' has shape [3] but [1, 3] was expected")
        XCTAssertEqual(message { try g.requireInts("z", shape: []) }, "\(path): missing tensor 'z'")
        XCTAssertEqual(try g.requireFloats("y", shape: [3]), [1, 2, 3])
    }

    func testUnreadableFile() {
        let path = tmpDir + "/does-not-exist.safetensors"
        XCTAssertEqual(message { try SafeTensorsFile.read(path: path) },
                       "\(path): file cannot be read: No such file or directory")
        XCTAssertEqual(message { try SafeTensorsFile.read(path: tmpDir) },
                       "\(tmpDir): is a folder, not a regular file: give the path of a .safetensors file")
    }

    func testRandomCorruptionNeverCrashes() throws {
        let good = try sampleFile().encode()
        var state: UInt64 = 42
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        var decoded = 0
        for _ in 0..<3000 {
            var b = good
            for _ in 0..<(1 + next() % 4) {
                // Bias toward the length and header, where parsing happens.
                let i = next() % 3 == 0 ? next() % b.count : next() % min(b.count, 8 + 400)
                b[i] = UInt8(truncatingIfNeeded: next())
            }
            if (try? SafeTensorsFile.decode(b, source: "fuzz")) != nil { decoded += 1 }
        }
        XCTAssertGreaterThan(decoded, 0, "some mutations (data bytes) stay valid")
    }

    // MARK: - Atomic write

    func testAtomicWriteReplacesAndLeavesNoTemp() throws {
        let path = tmpDir + "/ckpt.safetensors"
        var a = SafeTensorsFile(metadata: ["v": "1"])
        try a.add("w", shape: [2], floats: [1, 2])
        try a.write(path: path)
        var b = SafeTensorsFile(metadata: ["v": "2"])
        try b.add("w", shape: [3], floats: [3, 4, 5])
        try b.add("n", shape: [], ints: [9])
        try b.write(path: path)

        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmpDir), ["ckpt.safetensors"])
        let g = try SafeTensorsFile.read(path: path)
        XCTAssertEqual(g.metadata, ["v": "2"])
        XCTAssertEqual(try g.requireFloats("w", shape: [3]), [3, 4, 5])
        XCTAssertEqual(try g.requireInts("n", shape: []), [9])

        // A failing write names the path and leaves the old file and no temp.
        let missingDir = tmpDir + "/no/such/dir/x.safetensors"
        let msg = try XCTUnwrap(message { try b.write(path: missingDir) })
        XCTAssertTrue(msg.hasPrefix("\(missingDir): cannot create temporary file"), msg)
        XCTAssertTrue(msg.hasSuffix("No such file or directory"), msg)

        // Writing over a directory fails at the rename; the temp is cleaned up.
        let dirPath = tmpDir + "/adir"
        try FileManager.default.createDirectory(atPath: dirPath + "/child", withIntermediateDirectories: true)
        let msg2 = try XCTUnwrap(message { try b.write(path: dirPath) })
        XCTAssertTrue(msg2.contains("cannot rename"), msg2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmpDir).sorted(), ["adir", "ckpt.safetensors"])

        // A relative path (no directory part) works too.
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(tmpDir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        try a.write(path: "rel.safetensors")
        XCTAssertEqual(try SafeTensorsFile.read(path: tmpDir + "/rel.safetensors")["w"]?.floats, [1, 2])
    }

    func testLargeFileIsFast() throws {
        // 64 MB of floats: encode + write + read + decode must be memcpy-speed
        // (about 0.3 s even in a debug build; a per-byte loop would take >10 s).
        let n = 16 << 20
        var floats = [Float](repeating: 0, count: n)
        floats[0] = 1; floats[n - 1] = -2; floats[n / 2] = 0.5
        var f = SafeTensorsFile()
        try f.add("big", shape: [n / 1024, 1024], floats: floats)
        let path = tmpDir + "/big.safetensors"
        let t0 = Date()
        try f.write(path: path)
        let g = try SafeTensorsFile.read(path: path)
        let elapsed = Date().timeIntervalSince(t0)
        let h = try g.requireFloats("big", shape: [n / 1024, 1024])
        XCTAssertEqual(h.count, n)
        XCTAssertEqual(h[0], 1); XCTAssertEqual(h[n - 1], -2); XCTAssertEqual(h[n / 2], 0.5)
        XCTAssertLessThan(elapsed, 3.0, "64 MB round trip took \(elapsed)s")
    }

    // MARK: - Cross-check with numpy

    /// Runs python3 with `script` and `args`; returns stdout, or nil if python
    /// or numpy is unavailable.
    private func python(_ script: String, _ args: [String]) throws -> String? {
        func run(_ a: [String]) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3"] + a
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        guard let probe = try? run(["-c", "import numpy"]), probe.0 == 0 else { return nil }
        let (status, out, err) = try run(["-c", script] + args)
        XCTAssertEqual(status, 0, "python failed: \(err)")
        return out
    }

    func testNumpyReadsSwiftFile() throws {
        let f = try sampleFile()
        let path = tmpDir + "/swift.safetensors"
        try f.write(path: path)
        let script = """
        import json, struct, sys, numpy as np
        raw = open(sys.argv[1], 'rb').read()
        (n,) = struct.unpack('<Q', raw[:8])
        hdr = json.loads(raw[8:8 + n].decode('utf-8'))
        data = raw[8 + n:]
        out = {'__metadata__': hdr.pop('__metadata__', {}), 'header_len': n}
        for name, e in hdr.items():
            dt = {'F32': '<f4', 'I64': '<i8'}[e['dtype']]
            b, en = e['data_offsets']
            a = np.frombuffer(data[b:en], dtype=dt).reshape(e['shape'])
            s = a.astype(np.float64)
            s = s[np.isfinite(s)].sum() if a.dtype.kind == 'f' else int(a.astype(object).sum())
            out[name] = {'shape': list(a.shape), 'sum': float(s) if a.dtype.kind == 'f' else str(s), 'dtype': e['dtype']}
        print(json.dumps(out))
        """
        guard let out = try python(script, [path]) else { throw XCTSkip("python3 with numpy not available") }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(json["__metadata__"] as? [String: String], f.metadata)
        XCTAssertEqual((json["header_len"] as? Int).map { $0 % 8 }, 0)
        for t in f.tensors {
            let e = try XCTUnwrap(json[t.name] as? [String: Any], t.name)
            XCTAssertEqual(e["shape"] as? [Int], t.shape, t.name)
            XCTAssertEqual(e["dtype"] as? String, t.data.dtype, t.name)
            switch t.data {
            case .f32(let v):
                let want = v.map(Double.init).filter(\.isFinite).reduce(0, +)
                XCTAssertEqual(try XCTUnwrap(e["sum"] as? Double), want, accuracy: 1e-9, t.name)
            case .i64(let v):
                // Exact arbitrary-precision sum from Python, compared as text.
                var hi = 0, lo: Int64 = 0
                for x in v { let (s, o) = lo.addingReportingOverflow(x); lo = s; if o { hi += x > 0 ? 1 : -1 } }
                XCTAssertEqual(hi, 0, "fixture sums fit in Int64")
                XCTAssertEqual(e["sum"] as? String, String(lo), t.name)
            }
        }
    }

    func testSwiftReadsNumpyFile() throws {
        let path = tmpDir + "/numpy.safetensors"
        let script = """
        import json, struct, sys, numpy as np
        a = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.25) - np.float32(3)).astype('<f4')
        b = (np.arange(5, dtype=np.int64) * -(2**40) + 7).astype('<i8')
        c = np.array(np.float32(1.0) / np.float32(3.0), dtype='<f4')
        rng = np.random.default_rng(7)
        d = rng.standard_normal((17, 3)).astype('<f4')
        parts, hdr, off = [], {'__metadata__': {'writer': 'numpy', 'x': 'y'}}, 0
        # Written in a different order than the header keys, header unpadded.
        for name, arr in [('d', d), ('b', b), ('a', a), ('c', c)]:
            buf = arr.tobytes()
            hdr[name] = {'dtype': 'F32' if arr.dtype.kind == 'f' else 'I64',
                         'shape': list(arr.shape), 'data_offsets': [off, off + len(buf)]}
            parts.append(buf); off += len(buf)
        h = json.dumps(hdr).encode()
        open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(parts))
        # Bit patterns, not decimals: JSON float parsing need not round-trip.
        print(json.dumps({'d_sum': float(d.astype(np.float64).sum()),
                          'd_bits': d.view('<u4').ravel().tolist(), 'c_bits': int(c.view('<u4'))}))
        """
        guard let out = try python(script, [path]) else { throw XCTSkip("python3 with numpy not available") }
        let info = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])

        let g = try SafeTensorsFile.read(path: path)
        XCTAssertEqual(g.metadata, ["writer": "numpy", "x": "y"])
        XCTAssertEqual(g.tensors.map(\.name), ["d", "b", "a", "c"], "file order = data order")
        let a = try g.requireFloats("a", shape: [2, 3, 4])
        XCTAssertEqual(a, (0..<24).map { Float($0) * 0.25 - 3 })
        XCTAssertEqual(try g.requireInts("b", shape: [5]), (0..<5).map { Int64($0) * -(1 << 40) + 7 })
        XCTAssertEqual(try g.requireFloats("c", shape: []), [Float(1) / 3])
        XCTAssertEqual(try g.requireFloats("c", shape: []).map(\.bitPattern), [try XCTUnwrap(info["c_bits"] as? UInt32)])
        let d = try g.requireFloats("d", shape: [17, 3])
        XCTAssertEqual(d.map(\.bitPattern), try XCTUnwrap(info["d_bits"] as? [UInt32]))
        XCTAssertEqual(d.map(Double.init).reduce(0, +), try XCTUnwrap(info["d_sum"] as? Double), accuracy: 1e-9)
    }
}
