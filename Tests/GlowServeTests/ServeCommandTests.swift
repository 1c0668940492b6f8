import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
import GlowGPU
import GlowServe

/// `glow-gpu serve` as a process on 127.0.0.1 and a port the system picks: what it prints, the
/// directions cache beside the checkpoint, and 1,000 malformed requests that leave it up with
/// flat memory.
final class ServeCommandTests: XCTestCase {
    /// The `glow-gpu` executable: `GLOW_GPU_BINARY`, else next to the test bundle, else `.build*/debug`.
    static let binary: URL? = {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["GLOW_GPU_BINARY"] { return URL(fileURLWithPath: env) }
        var dirs: [URL] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") { dirs.append(URL(fileURLWithPath: exe).deletingLastPathComponent()) }
        var u = Bundle(for: ServeCommandTests.self).bundleURL
        for _ in 0 ..< 4 { dirs.append(u); u = u.deletingLastPathComponent() }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        dirs.append(root.appendingPathComponent(".build/debug"))
        for d in dirs {
            let c = d.appendingPathComponent("glow-gpu")
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: c.path, isDirectory: &isDir), !isDir.boolValue, fm.isExecutableFile(atPath: c.path) { return c }
        }
        return nil
    }()

    /// A `glow-gpu serve` process; `stop()` ends it.
    final class Served {
        let process: Process
        let output: URL
        let port: Int
        let log: String

        init(_ args: [String], dir: URL) throws {
            guard let bin = ServeCommandTests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
            output = dir.appendingPathComponent("serve-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            process = Process()
            process.executableURL = bin
            process.arguments = ["serve"] + args
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            // The listening line, within at most 120 s (start-up computes the label directions).
            var found: (Int, String)?
            for _ in 0 ..< 1200 where found == nil && process.isRunning {
                let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                if let r = text.range(of: "listening on http://127.0.0.1:") {
                    let digits = text[r.upperBound...].prefix { $0.isNumber }
                    if let p = Int(digits) { found = (p, text) }
                }
                if found == nil { usleep(100_000) }
            }
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            guard let (p, log) = found else {
                if process.isRunning { process.terminate(); process.waitUntilExit() }
                throw LoopbackHTTP.Failure(description: "glow-gpu serve did not start listening:\n\(text)")
            }
            port = p; self.log = log
        }

        func stop() {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }
    }

    /// A tiny checkpoint; the data set is the repository's MNIST (resized to 8×8 by the server).
    func checkpoint() throws -> (String, URL) {
        let dir = try makeTempDirectory(self)
        let model = try makeServeTestModel(ServeFixture.config, seed: 21, labels: nil)
        let path = dir.appendingPathComponent("tiny.safetensors").path
        try Checkpoint.save(model, to: path)
        return (path, dir)
    }

    /// It says where it listens (loopback only), caches the directions beside the checkpoint and
    /// reads them back on the next start, and its routes answer like the library.
    func testServeCommand() throws {
        let (ckpt, dir) = try checkpoint()
        let served = try Served(["--checkpoint", ckpt, "--device", "cpu", "--port", "0", "--direction-count", "10"], dir: dir)
        defer { served.stop() }
        XCTAssert(served.log.contains("loopback only"), served.log)
        XCTAssert(served.log.contains("resized from 28×28 to 8×8"), served.log)
        let cache = dir.appendingPathComponent("tiny.directions.safetensors").path
        XCTAssert(served.log.contains("computed in") && served.log.contains(cache), served.log)
        let ref = try GlowModel(checkpoint: ckpt, device: "cpu")
        let stored = try ManipulationDirections.read(path: cache, shapes: ref.latentShapes)
        XCTAssertEqual(stored.labels, Array(0 ... 9))
        XCTAssertEqual(stored.withLabel, [Int](repeating: 10, count: 10))

        let r = try LoopbackHTTP.post(port: served.port, "/api/sample", ["temperature": 0, "seed": 3, "count": 4])
        XCTAssertEqual(r.status, 200, r.error ?? "")
        let want = try ImageGrid.make(images: try ref.sample(count: 4, temperature: 0, seed: 3).pixels, count: 4, channels: 1,
                                      height: 8, width: 8, columns: 2)
        XCTAssertEqual(try decodePNGField(r.json).pixels, want.pixels)
        let card = try XCTUnwrap(try LoopbackHTTP.request(port: served.port, "GET", "/api/model").json)
        XCTAssertEqual((card["dataset"] as? [String: Any])?["name"] as? String, "mnist")
        XCTAssertEqual((card["dataset"] as? [String: Any])?["count"] as? Int, 10000)
        served.stop()

        // Second start: the directions come from the cache.
        let again = try Served(["--checkpoint", ckpt, "--device", "cpu", "--port", "0", "--direction-count", "10"], dir: dir)
        defer { again.stop() }
        XCTAssert(again.log.contains("read from \(cache)"), again.log)
        // Another --direction-count does not match the cache: computed again.
        again.stop()
        let third = try Served(["--checkpoint", ckpt, "--device", "cpu", "--port", "0", "--direction-count", "7"], dir: dir)
        defer { third.stop() }
        XCTAssert(third.log.contains("computing the directions again"), third.log)
    }

    /// A port already in use and a bad host are errors that name them.
    func testBadAddress() throws {
        let (ckpt, dir) = try checkpoint()
        let first = try Served(["--checkpoint", ckpt, "--device", "cpu", "--port", "0", "--dataset", "none"], dir: dir)
        defer { first.stop() }
        for (args, message) in [(["--port", String(first.port)], "cannot listen on 127.0.0.1:\(first.port)"),
                                (["--host", "example.org"], "--host example.org: not an IP address"),
                                (["--threads", "0"], "--threads 0: expected a thread count from 1 to")] {
            let p = Process()
            p.executableURL = try XCTUnwrap(Self.binary)
            p.arguments = ["serve", "--checkpoint", ckpt, "--device", "cpu", "--dataset", "none"] + args
            let out = dir.appendingPathComponent("bad-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            let h = try FileHandle(forWritingTo: out)
            p.standardOutput = h; p.standardError = h
            try p.run()
            p.waitUntilExit()
            let text = try String(contentsOf: out, encoding: .utf8)
            XCTAssertNotEqual(p.terminationStatus, 0, text)
            XCTAssert(text.contains(message), text)
        }
    }

    /// `glow-gpu serve` without `glow-gpu-serve` beside it says which file it needs and how to build it.
    func testServeWithoutServerBinary() throws {
        let bin = try XCTUnwrap(Self.binary)
        let dir = try makeTempDirectory(self)
        let copy = dir.appendingPathComponent("glow-gpu")
        try FileManager.default.copyItem(at: bin, to: copy)
        let p = Process()
        p.executableURL = copy
        p.arguments = ["serve", "--checkpoint", "x.safetensors"]
        let out = dir.appendingPathComponent("out.log")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let h = try FileHandle(forWritingTo: out)
        p.standardOutput = h; p.standardError = h
        try p.run()
        p.waitUntilExit()
        let text = try String(contentsOf: out, encoding: .utf8)
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssert(text.contains(dir.appendingPathComponent("glow-gpu-serve").path) && text.contains("swift build --product glow-gpu-serve"), text)
    }

    /// 1,000 malformed or random requests (bounded: 1,000 at most and 180 s at most, 127.0.0.1
    /// only): never a 500, every refusal a JSON message, the server still answers, and its
    /// resident memory after the loop is within 30 MB of what it was after the first 100.
    func testFuzzedRequestsLeaveServerUpWithFlatMemory() throws {
        let (ckpt, dir) = try checkpoint()
        let served = try Served(["--checkpoint", ckpt, "--device", "cpu", "--port", "0", "--direction-count", "5",
                                 "--directions-cache", "none", "--idle-timeout", "0.1"], dir: dir)
        defer { served.stop() }
        let pid = served.process.processIdentifier
        var rng = SplitMix(seed: 2024)
        let good = Data(try pngBytes(try ImageSet(count: 1, channels: 1, height: 8, width: 8,
                                                  pixels: (0 ..< 64).map { UInt8($0 * 3) }))).base64EncodedString()
        let start = Date()
        var baseline: Int?
        var statuses: [Int: Int] = [:]
        var sent = 0
        for i in 0 ..< 1000 {
            if Date().timeIntervalSince(start) > 180 { break }
            let r = try LoopbackHTTP.raw(port: served.port, Self.fuzzRequest(&rng, good: good), timeout: 30)
            sent += 1
            statuses[r.status, default: 0] += 1
            XCTAssertNotEqual(r.status, 500, "request \(i) got 500: \(r.error ?? "")")
            if r.status >= 400 {
                XCTAssertNotNil(r.error, "request \(i): status \(r.status) without a JSON error: \(String(decoding: r.body.prefix(200), as: UTF8.self))")
            }
            if i == 99 { baseline = residentKB(pid: pid) }
        }
        let after = residentKB(pid: pid)
        print("fuzz: \(sent) requests in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; statuses \(statuses.sorted { $0.key < $1.key }); "
            + "RSS \(baseline ?? -1) kB after 100, \(after ?? -1) kB after \(sent)")
        XCTAssertGreaterThanOrEqual(sent, 100)
        XCTAssertTrue(served.process.isRunning, "the server is still running")
        XCTAssertEqual(try LoopbackHTTP.request(port: served.port, "GET", "/api/model").status, 200)
        XCTAssertEqual(try LoopbackHTTP.post(port: served.port, "/api/sample", ["count": 2]).status, 200)
        if let baseline, let after { XCTAssertLessThan(after - baseline, 30_000, "resident memory grew by \(after - baseline) kB") }
    }

    /// A deterministic small PRNG for the fuzz loop.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// One request: a valid one mutated (bytes flipped, cut, values out of range, wrong types,
    /// odd headers), or random bytes.
    static func fuzzRequest(_ rng: inout SplitMix, good: String) -> [UInt8] {
        let routes = ["/api/sample", "/api/interpolate", "/api/manipulate", "/api/encode", "/api/model", "/api/dataset?index=3", "/",
                      "/nope", "/api/sample?x=%zz", "//..//etc/passwd"]
        let values = ["0.7", "NaN", "1e30", "-1", "\"x\"", "null", "true", "[]", "{}", "1e309", "16", "99999999999999999999", "0.5"]
        let bodies = [
            "{\"temperature\": \(values[rng.below(values.count)]), \"seed\": \(values[rng.below(values.count)]), \"count\": \(values[rng.below(values.count)])}",
            "{\"from\": {\"index\": \(values[rng.below(values.count)])}, \"to\": {\"png\": \"\(good)\"}, \"steps\": \(values[rng.below(values.count)])}",
            "{\"image\": {\"index\": 2}, \"alphas\": {\"\(rng.below(12))\": \(values[rng.below(values.count)])}}",
            "{\"png\": \"\(good)\"}",
            "{\"png\": \"\(String(good.prefix(rng.below(good.count))))\"}",
        ]
        var body = Array(bodies[rng.below(bodies.count)].utf8)
        switch rng.below(4) {
        case 0: for _ in 0 ..< 1 + rng.below(4) where !body.isEmpty { body[rng.below(body.count)] = UInt8(rng.below(256)) }
        case 1: body = Array(body.prefix(rng.below(body.count + 1)))
        case 2: body = (0 ..< rng.below(300)).map { _ in UInt8(rng.below(256)) }
        default: break
        }
        let method = ["POST", "GET", "PUT", "POST", "POST", "DELETE"][rng.below(6)]
        var head = "\(method) \(routes[rng.below(routes.count)]) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        switch rng.below(12) {
        case 0: head += "Content-Length: \(body.count + 1)\r\n"   // claims more than is sent: the idle timeout ends it
        case 1, 2: head += "Content-Length: 999999999999\r\n"
        case 3, 4: head += "Content-Type: image/png\r\nContent-Length: \(body.count)\r\n"
        default: head += "Content-Length: \(body.count)\r\n"
        }
        var request = Array((head + "\r\n").utf8) + body
        if rng.below(20) == 0 { request = (0 ..< rng.below(200)).map { _ in UInt8(rng.below(256)) } }   // not HTTP at all
        return request
    }
}
