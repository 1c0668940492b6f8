import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// A fresh temporary directory, removed when the test ends.
func makeTempDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

final class CheckpointTests: XCTestCase {
    static let configs = [
        GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8, lu: true),
        GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8, coupling: .additive, lu: false),
        GlowConfig(channels: 3, height: 4, width: 4, K: 1, L: 2, hidden: 4, permutation: .shuffle, learnTop: false),
    ]

    /// save → load gives bit-identical parameters, permutation indices and encodings.
    func testRoundTrip() throws {
        for b in try TestBackends.all() { try checkRoundTrip(b) }
    }

    func checkRoundTrip<B: Backend>(_ b: B) throws {
        let dir = try makeTempDirectory(self)
        for (n, config) in Self.configs.enumerated() {
            let (model, x) = try makeTestModel(b, config, seed: UInt64(10 + n), images: 3)
            let path = dir.appendingPathComponent("m\(n).safetensors").path
            try Checkpoint.save(model, to: path)
            let loaded = try Checkpoint.load(path, backend: b)
            XCTAssertEqual(loaded.config, config.withBatchDefault, "\(b.name) config \(n)")
            XCTAssertEqual(loaded.parameters.map(\.name), model.parameters.map(\.name))
            for (p, q) in zip(model.parameters, loaded.parameters) {
                XCTAssertEqual(try b.download(q.value), try b.download(p.value), "\(b.name) config \(n): \(p.name)")
            }
            for (l1, l2) in zip(model.levels, loaded.levels) {
                for (s1, s2) in zip(l1.steps, l2.steps) {
                    XCTAssertEqual(s1.permutation?.indices, s2.permutation?.indices, "\(b.name) permutation indices")
                }
            }
            let e1 = try model.encode(x), e2 = try loaded.encode(x)
            for (i, (z1, z2)) in zip(e1.latents, e2.latents).enumerated() {
                XCTAssertEqual(try z2.nchw(), try z1.nchw(), "\(b.name) config \(n): z.\(i) after reload")
            }
            XCTAssertEqual(e2.logdet, e1.logdet, "\(b.name) logdet")
            XCTAssertEqual(e2.logp, e1.logp, "\(b.name) logp")
            XCTAssertEqual(e2.bpd, e1.bpd, "\(b.name) bpd")
            // The file written is what Checkpoint.file describes, tensor for tensor.
            let f = try SafeTensorsFile.read(path: path)
            XCTAssertEqual(f.metadata["format"], "glow-gpu/1")
            XCTAssertEqual(f.tensors.count, try Checkpoint.file(model).tensors.count)
        }
    }

    /// Each kind of damaged file fails with a GlowError naming the file and the problem.
    func testBadFiles() throws {
        for b in try TestBackends.all() { try checkBadFiles(b) }
    }

    func checkBadFiles<B: Backend>(_ b: B) throws {
        let dir = try makeTempDirectory(self)
        let (model, _) = try makeTestModel(b, Self.configs[0])
        let good = try Checkpoint.file(model)
        var n = 0
        func write(_ bytes: [UInt8]) throws -> String {
            n += 1
            let p = dir.appendingPathComponent("bad\(n).safetensors").path
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            return p
        }
        func expect(_ what: String, _ bytes: [UInt8], _ parts: [String], line: UInt = #line) throws {
            let p = try write(bytes)
            assertGlowError("\(b.name) \(what)", contains: [p] + parts, line: line) { _ = try Checkpoint.load(p, backend: b) }
        }
        let bytes = try good.encode()

        // Sanity: the unmodified bytes load.
        XCTAssertNoThrow(try Checkpoint.load(try write(bytes), backend: b))

        try expect("truncated", Array(bytes.dropLast(100)), ["past the data section"])
        try expect("too short", Array(bytes.prefix(5)), ["too short"])

        var tag = good; tag.metadata["format"] = "glow-gpu/0"
        try expect("format tag", try tag.encode(), ["format tag \"glow-gpu/0\"", "glow-gpu/1"])

        var untagged = good; untagged.metadata["format"] = nil
        try expect("no format tag", try untagged.encode(), ["no \"format\""])

        var missing = good; missing.tensors.removeAll { $0.name == "top.conv_zeros.bias" }
        try expect("missing tensor", try missing.encode(), ["missing tensor 'top.conv_zeros.bias'"])

        var shape = good
        let name = "levels.0.steps.0.actnorm.bias"
        try shape.add(name, shape: [5], floats: [0, 0, 0, 0, 0])
        try expect("wrong shape", try shape.encode(), ["'\(name)'", "[5]", "[4]"])

        var dtype = good
        try dtype.add(name, shape: [4], ints: [0, 0, 0, 0])
        try expect("wrong dtype", try dtype.encode(), ["'\(name)'", "I64", "F32"])

        var nan = good
        try nan.add(name, shape: [4], floats: [0, .nan, 0, 0])
        try expect("non-finite value", try nan.encode(), ["'\(name)'", "non-finite"])

        var header = bytes
        let huge = UInt64(bytes.count)   // 8 + huge > file size
        for i in 0 ..< 8 { header[i] = UInt8(truncatingIfNeeded: huge >> (8 * UInt64(i))) }
        try expect("header length", header, ["header length \(huge)", "runs past the end of the file"])

        var coupling = good
        coupling.metadata["config"] = good.metadata["config"]!.replacingOccurrences(of: "\"affine\"", with: "\"sideways\"")
        try expect("unknown coupling", try coupling.encode(), ["coupling \"sideways\"", "affine or additive"])

        var levels = good
        levels.metadata["config"] = good.metadata["config"]!.replacingOccurrences(of: "\"L\":2", with: "\"L\":4")
        XCTAssertNotEqual(levels.metadata["config"], good.metadata["config"], "test setup: the config JSON spells \"L\":2")
        try expect("bad L", try levels.encode(), ["image_shape", "2^L"])

        var json = good; json.metadata["config"] = "{not json"
        try expect("config not JSON", try json.encode(), ["\"config\"", "not a JSON object"])

        let absent = dir.appendingPathComponent("absent.safetensors").path
        assertGlowError("\(b.name) missing file", contains: [absent, "cannot be read"]) {
            _ = try Checkpoint.load(absent, backend: b)
        }
    }
}

extension GlowConfig {
    /// The config as a checkpoint gives it back (the batch size is not stored).
    var withBatchDefault: GlowConfig { var c = self; c.batch = 16; return c }
}
