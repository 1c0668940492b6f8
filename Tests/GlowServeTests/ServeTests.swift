import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
import GlowGPU
@testable import GlowServe

/// `GlowServer` in this process on 127.0.0.1 and an ephemeral port, on a tiny checkpoint: each
/// route's values against the library's, and the refusals.
final class ServeTests: XCTestCase {
    /// POST /api/sample at T = 0 and 0.7 gives the grid of the library's `sample` for the seed.
    func testSampleMatchesLibrary() throws {
        let f = try ServeFixture(self)
        let (_, port) = try f.server(self)
        let c = ServeFixture.config
        for (t, seed, count) in [(0.0, UInt64(5), 4), (0.7, UInt64(11), 5)] {
            let r = try LoopbackHTTP.post(port: port, "/api/sample", ["temperature": t, "seed": seed, "count": count])
            XCTAssertEqual(r.status, 200, r.error ?? "")
            let got = try decodePNGField(r.json)
            let ref = try f.reference.sample(count: count, temperature: Float(t), seed: seed)
            let cols = Int(Double(count).squareRoot().rounded(.up))
            let want = try ImageGrid.make(images: ref.pixels, count: count, channels: 1, height: c.height, width: c.width, columns: cols)
            XCTAssertEqual([got.width, got.height, got.channels], [want.width, want.height, 1])
            XCTAssertEqual(got.pixels, want.pixels, "T=\(t) seed \(seed): the server's grid is the library's")
            XCTAssertEqual(r.json?["count"] as? Int, count)
            XCTAssertEqual(r.json?["not_finite"] as? [Int], ref.notFinite, "the library's report of overflowed samples")
        }
        // Another seed gives another grid.
        let a = try decodePNGField(try LoopbackHTTP.post(port: port, "/api/sample", ["temperature": 0.7, "seed": 1]).json)
        let b = try decodePNGField(try LoopbackHTTP.post(port: port, "/api/sample", ["temperature": 0.7, "seed": 2]).json)
        XCTAssertEqual(a.width, 4 * 8 + 5, "16 images by default: 4 columns")
        XCTAssertNotEqual(a.pixels, b.pixels)
    }

    /// POST /api/encode: the bpd and reconstruction of the library's `encode`/`decodePixels`, for
    /// an upload of the model's size (JSON and raw image/png bodies) and one that is resized.
    func testEncodeMatchesLibrary() throws {
        let f = try ServeFixture(self)
        let (_, port) = try f.server(self)
        let one = try f.dataset.subset([3])
        let z = try f.reference.encode(one)
        let recon = try f.reference.decodePixels(z)
        let png = try pngBytes(one)
        for r in [try LoopbackHTTP.post(port: port, "/api/encode", ["png": Data(png).base64EncodedString()]),
                  try LoopbackHTTP.request(port: port, "POST", "/api/encode", body: png, headers: ["Content-Type": "image/png"])] {
            XCTAssertEqual(r.status, 200, r.error ?? "")
            let bpd = try XCTUnwrap(r.json?["bpd"] as? Double)
            XCTAssertEqual(bpd, z.bpd[0], accuracy: 1e-9 * max(1, abs(z.bpd[0])))
            XCTAssertEqual(try decodePNGField(r.json).pixels, try recon.hwc(0), "reconstruction = decodePixels(encode(x))")
            XCTAssertEqual(try decodePNGField(r.json, "input_png").pixels, hwcOfOne(one), "the input as the model sees it")
        }
        // A 20×12 RGB upload: converted to gray by libpng, centre-cropped and resized (GlowModel.fitted).
        let rgb = (0 ..< 20 * 12 * 3).map { UInt8(($0 * 37) % 256) }
        let upload = try PNGImage.encode(width: 20, height: 12, channels: 3, pixels: rgb)
        let r = try LoopbackHTTP.post(port: port, "/api/encode", ["png": Data(upload).base64EncodedString()])
        XCTAssertEqual(r.status, 200, r.error ?? "")
        let gray = try PNGImage.decode(bytes: upload, channels: 1)
        let set = try f.reference.fitted(try ImageSet(count: 1, channels: 1, height: 12, width: 20, pixels: gray.pixels))
        XCTAssertEqual([set.height, set.width], [8, 8])
        let zr = try f.reference.encode(set)
        XCTAssertEqual(try XCTUnwrap(r.json?["bpd"] as? Double), zr.bpd[0], accuracy: 1e-9 * max(1, abs(zr.bpd[0])))
        XCTAssertEqual((r.json?["uploaded"] as? [String: Any])?["width"] as? Int, 20)
    }

    /// POST /api/interpolate between a data-set image and an upload equals the library's row.
    func testInterpolateMatchesLibrary() throws {
        let f = try ServeFixture(self)
        let (_, port) = try f.server(self)
        let upload = try f.dataset.subset([7])
        let r = try LoopbackHTTP.post(port: port, "/api/interpolate", [
            "from": ["index": 2], "to": ["png": Data(try pngBytes(upload)).base64EncodedString()], "steps": 5,
        ])
        XCTAssertEqual(r.status, 200, r.error ?? "")
        let pair = try ImageSet(count: 2, channels: 1, height: 8, width: 8,
                                pixels: Array(try f.dataset.image(at: 2)) + upload.pixels)
        let row = try f.reference.interpolate(images: pair, from: 0, to: 1, steps: 5)
        let want = try ImageGrid.make(images: row.pixels, count: 5, channels: 1, height: 8, width: 8, columns: 5)
        let got = try decodePNGField(r.json)
        XCTAssertEqual([got.width, got.height], [want.width, want.height])
        XCTAssertEqual(got.pixels, want.pixels)
    }

    /// POST /api/manipulate moves the image along the sum of the label directions, as the
    /// library's `shift(_:along:)` and `decodePixels` do; no alphas is the reconstruction.
    func testManipulateMatchesLibrary() throws {
        let f = try ServeFixture(self)
        let (_, port) = try f.server(self)
        let dirs = try f.reference.manipulationDirections(images: f.dataset, count: 5)
        let one = try f.dataset.subset([5])
        let z = try f.reference.encode(one)
        for alphas in [[:], [1: Float(0.5), 3: -1]] as [[Int: Float]] {
            let body: [String: Any] = ["image": ["index": 5], "alphas": Dictionary(uniqueKeysWithValues: alphas.map { (String($0.key), Double($0.value)) })]
            let r = try LoopbackHTTP.post(port: port, "/api/manipulate", body)
            XCTAssertEqual(r.status, 200, r.error ?? "")
            let moved = try f.reference.shift(z, along: try alphas.keys.sorted().map { (try dirs.direction($0), alphas[$0]!) })
            XCTAssertEqual(try decodePNGField(r.json).pixels, try f.reference.decodePixels(moved).hwc(0), "alphas \(alphas)")
            if alphas.isEmpty {
                XCTAssertEqual(try decodePNGField(r.json).pixels, try f.reference.decodePixels(z).hwc(0))
            }
        }
    }

    /// GET /api/model: configuration, device, data set, labels, limits, and the last call's images/s.
    func testModelCard() throws {
        let f = try ServeFixture(self)
        var o = GlowServer.Options(port: 0, testBPD: 3.25, testBPDSource: "metrics.jsonl, step 3")
        o.checkpoint = f.checkpoint
        let (_, port) = try f.server(self, options: o)
        var card = try XCTUnwrap(try LoopbackHTTP.request(port: port, "GET", "/api/model").json)
        XCTAssert(card["last_call"] is NSNull)
        XCTAssertEqual((card["config"] as? [String: Any])?["K"] as? Int, 2)
        XCTAssertEqual((card["config"] as? [String: Any])?["image_shape"] as? [Int], [1, 8, 8])
        let configText = String(decoding: try LoopbackHTTP.request(port: port, "GET", "/api/model").body, as: UTF8.self)
        XCTAssert(configText.contains("\"learn_top\":true") && configText.contains("\"lu\":true"), "booleans stay booleans: \(configText)")
        XCTAssert((card["device"] as? String ?? "").hasPrefix("cpu"), "\(card["device"] ?? "")")
        XCTAssertEqual(card["test_bpd"] as? Double, 3.25)
        XCTAssertEqual(card["checkpoint"] as? String, f.checkpoint)
        XCTAssertEqual((card["dataset"] as? [String: Any])?["count"] as? Int, 24)
        XCTAssertEqual((card["labels"] as? [[String: Any]])?.compactMap { $0["label"] as? Int }, [0, 1, 2, 3])
        _ = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 9])
        card = try XCTUnwrap(try LoopbackHTTP.request(port: port, "GET", "/api/model").json)
        let last = try XCTUnwrap(card["last_call"] as? [String: Any])
        XCTAssertEqual(last["route"] as? String, "sample")
        XCTAssertEqual(last["images"] as? Int, 9)
        let seconds = try XCTUnwrap(last["seconds"] as? Double), ips = try XCTUnwrap(last["images_per_second"] as? Double)
        XCTAssertEqual(ips, 9 / seconds, accuracy: 1e-6 * ips)
        // The page and its files are served.
        let page = try LoopbackHTTP.request(port: port, "GET", "/")
        XCTAssertEqual(page.status, 200)
        XCTAssert(String(decoding: page.body, as: UTF8.self).contains("<script src=\"/app.js\">"))
        for (path, type) in [("/app.js", "text/javascript"), ("/style.css", "text/css")] {
            let r = try LoopbackHTTP.request(port: port, "GET", path)
            XCTAssertEqual(r.status, 200)
            XCTAssert((r.headers["content-type"] ?? "").hasPrefix(type), path)
            XCTAssertGreaterThan(r.body.count, 500)
        }
        let d = try LoopbackHTTP.request(port: port, "GET", "/api/dataset?index=6")
        XCTAssertEqual(d.json?["label"] as? Int, 2)
        XCTAssertEqual(try decodePNGField(d.json).pixels, hwcOfOne(try f.dataset.subset([6])))
    }

    /// Every kind of bad input gets its 4xx and a JSON message naming it, and the server keeps serving.
    func testMalformedRequests() throws {
        let f = try ServeFixture(self)
        let (_, port) = try f.server(self)
        let good = Data(try pngBytes(try f.dataset.subset([0]))).base64EncodedString()
        // A 5000×5000 PNG (25 MB of pixels in ~25 kB): refused from its header.
        let huge = try PNGImage.encode(width: 5000, height: 5000, channels: 1, pixels: [UInt8](repeating: 0, count: 25_000_000))
        let cases: [(String, String, [String: Any]?, [UInt8]?, Int, String)] = [
            ("POST", "/api/sample", nil, Array("{\"temperature\": NaN}".utf8), 400, "not valid JSON"),
            ("POST", "/api/sample", ["temperature": 1e30], nil, 400, "temperature 1e+30 is out of range"),
            ("POST", "/api/sample", ["temperature": -0.1], nil, 400, "temperature -0.1 is out of range"),
            ("POST", "/api/sample", ["count": 0], nil, 400, "count 0 must be an integer in 1…64"),
            ("POST", "/api/sample", ["count": 2.5], nil, 400, "count 2.5"),
            ("POST", "/api/sample", ["seed": "x"], nil, 400, "seed is a string"),
            ("POST", "/api/sample", ["temprature": 1], nil, 400, "unknown field \"temprature\""),
            ("POST", "/api/sample", ["class": 3], nil, 400, "unconditional"),
            ("POST", "/api/sample", nil, Array("[1, 2]".utf8), 400, "expected a JSON object"),
            ("POST", "/api/interpolate", ["from": ["index": 0], "to": ["index": 1], "steps": 17], nil, 400, "steps 17"),
            ("POST", "/api/interpolate", ["from": ["index": 0], "to": ["index": 99]], nil, 400, "index 99 is out of range 0…23"),
            ("POST", "/api/interpolate", ["from": ["index": 0]], nil, 400, "missing field \"to\""),
            ("POST", "/api/interpolate", ["from": ["index": 0, "png": good], "to": ["index": 1]], nil, 400, "exactly one"),
            ("POST", "/api/manipulate", ["image": ["index": 0], "alphas": ["1": 10]], nil, 400, "alphas[\"1\"] 10 is out of range"),
            ("POST", "/api/manipulate", ["image": ["index": 0], "alphas": ["42": 1]], nil, 400, "label 42 has no direction"),
            ("POST", "/api/manipulate", ["image": ["index": 0], "alphas": ["x": 1]], nil, 400, "is not a label"),
            ("POST", "/api/encode", ["png": Data("GIF89a not a png".utf8).base64EncodedString()], nil, 400, "not a PNG"),
            ("POST", "/api/encode", ["png": "%%%"], nil, 400, "not base64"),
            ("POST", "/api/encode", nil, Array("hello".utf8), 400, "not valid JSON"),
            ("POST", "/api/encode", ["png": Data(huge).base64EncodedString()], nil, 413, "5000×5000"),
            ("POST", "/api/encode", ["png": Data(try pngBytes(try f.dataset.subset([0])).prefix(45)).base64EncodedString()], nil, 400, "PNG"),
            ("GET", "/api/nothing", nil, nil, 404, "no route /api/nothing"),
            ("GET", "/api/sample", nil, nil, 405, "takes POST"),
            ("POST", "/api/model", nil, nil, 405, "takes GET"),
            ("GET", "/api/dataset?index=-1", nil, nil, 400, "index -1 is out of range"),
            ("GET", "/api/dataset", nil, nil, 400, "give ?index=I"),
        ]
        for (method, path, object, raw, status, message) in cases {
            let body = try raw ?? object.map { [UInt8](try JSONSerialization.data(withJSONObject: $0)) } ?? []
            let r = try LoopbackHTTP.request(port: port, method, path, body: body, headers: ["Content-Type": "application/json"])
            XCTAssertEqual(r.status, status, "\(method) \(path) \(String(decoding: body.prefix(80), as: UTF8.self)): \(r.error ?? "")")
            XCTAssert((r.error ?? "").contains(message), "\(method) \(path): message \(r.error ?? "none") should contain \(message)")
            XCTAssertEqual(r.headers["content-type"], "application/json")
        }
        // A body over the limit: refused from its Content-Length, before it is read.
        let big = try LoopbackHTTP.request(port: port, "POST", "/api/encode", headers: ["Content-Length": "100000000"])
        XCTAssertEqual(big.status, 413)
        XCTAssert((big.error ?? "").contains("100000000 bytes"), big.error ?? "")
        // Garbage instead of HTTP: FlyingFox closes the connection; the server keeps serving.
        _ = try LoopbackHTTP.raw(port: port, Array("\u{0}\u{1}garbage\r\n\r\n".utf8), timeout: 20)
        let ok = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 1])
        XCTAssertEqual(ok.status, 200, ok.error ?? "")
    }

    /// Bodies over the limit: refused from the Content-Length, or counted as chunks arrive.
    func testBodyLimit() throws {
        let f = try ServeFixture(self)
        var limits = ServeLimits()
        limits.maxBodyBytes = 100_000
        let (_, port) = try f.server(self, options: GlowServer.Options(port: 0, limits: limits))
        let big = try LoopbackHTTP.request(port: port, "POST", "/api/encode", headers: ["Content-Length": "100001"])
        XCTAssertEqual(big.status, 413)
        XCTAssert((big.error ?? "").contains("100001 bytes; at most 100000"), big.error ?? "")
        var chunked = Array("POST /api/encode HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for _ in 0 ..< 4 { chunked += Array("7530\r\n".utf8) + [UInt8](repeating: 0x41, count: 30_000) + Array("\r\n".utf8) }
        chunked += Array("0\r\n\r\n".utf8)
        let c = try LoopbackHTTP.raw(port: port, chunked)
        XCTAssertEqual(c.status, 413, c.error ?? "")
        XCTAssert((c.error ?? "").contains("over 100000 bytes"), c.error ?? "")
        XCTAssertEqual(try LoopbackHTTP.post(port: port, "/api/sample", ["count": 1]).status, 200)
    }

    /// A request while the model's queue is full gets 503 with a message; then it is served again.
    func testBusyModelAnswers503() throws {
        let f = try ServeFixture(self)
        let (server, port) = try f.server(self, options: GlowServer.Options(port: 0, queueCapacity: 1))
        XCTAssertTrue(server.queue.hold(), "the one place of the queue is free")
        XCTAssertFalse(server.queue.hold(), "and now it is taken")
        let r = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 1])
        XCTAssertEqual(r.status, 503)
        XCTAssert((r.error ?? "").contains("the model is busy"), r.error ?? "")
        // Requests that need no model call are still answered.
        XCTAssertEqual(try LoopbackHTTP.request(port: port, "GET", "/api/model").json?["queue"].flatMap { ($0 as? [String: Any])?["busy"] } as? Int, 1)
        server.queue.release()
        XCTAssertEqual(try LoopbackHTTP.post(port: port, "/api/sample", ["count": 1]).status, 200)
    }

    /// Past `timeout`: a call still waiting for its turn is answered 503 and dropped; one running
    /// is answered 504; the queue then serves again.
    func testModelTimeouts() throws {
        let f = try ServeFixture(self)
        let (server, port) = try f.server(self, options: GlowServer.Options(port: 0, timeout: 0.5))
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let blocker = Task.detached { () -> Error? in
            do {
                try await server.queue.run("test") { _ -> (Void, images: Int) in entered.signal(); release.wait(); return ((), 0) }
                return nil
            } catch { return error }
        }
        XCTAssertEqual(entered.wait(timeout: .now() + 60), .success, "the blocking call started")
        let waited = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 1])
        XCTAssertEqual(waited.status, 503)
        XCTAssert((waited.error ?? "").contains("without a turn"), waited.error ?? "")
        let running = try blocking { await blocker.value }
        XCTAssertEqual(running as? RequestError, RequestError(504, "test: no answer within 0.5 s; the model is slower than this "
            + "server's --timeout (its call finishes in the background)"))
        release.signal()
        let ok = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 1])
        XCTAssertEqual(ok.status, 200, ok.error ?? "")
        XCTAssertEqual(server.queue.busy, 0)
    }

    /// A connection that sends nothing is closed by the server after its idle timeout.
    func testIdleConnectionIsClosed() throws {
        let f = try ServeFixture(self)
        let (_, port) = try f.server(self, options: GlowServer.Options(port: 0, idleTimeout: 0.5))
        let fd = try LoopbackHTTP.connect(port: port, timeout: 30)
        defer { close(fd) }
        LoopbackHTTP.send(fd, Array("GET /api/model HTTP/1.1\r\nHost: x\r\n".utf8))   // stalls mid-request
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        XCTAssertEqual(n, 0, "the server closed the stalled connection (0 = end of stream; -1 would be our own 30 s timeout)")
    }

    /// A class-conditional model: one class, or one grid row per class, as the library samples them.
    func testClassConditionalSample() throws {
        var config = ServeFixture.config
        config.classes = 3
        let f = try ServeFixture(self, config: config, labels: 3)
        let (_, port) = try f.server(self)
        let r = try LoopbackHTTP.post(port: port, "/api/sample", ["temperature": 0.5, "seed": 4, "count": 2, "class": "all"])
        XCTAssertEqual(r.status, 200, r.error ?? "")
        let rows = try (0 ..< 3).map { try f.reference.sample(count: 2, temperature: 0.5, seed: 4, classLabel: $0).pixels }
        let want = try ImageGrid.rows(rows, channels: 1, height: 8, width: 8)
        XCTAssertEqual(try decodePNGField(r.json).pixels, want.pixels)
        let one = try LoopbackHTTP.post(port: port, "/api/sample", ["temperature": 0.5, "seed": 4, "count": 2, "class": 1])
        let want1 = try ImageGrid.make(images: rows[1], count: 2, channels: 1, height: 8, width: 8, columns: 2)
        XCTAssertEqual(try decodePNGField(one.json).pixels, want1.pixels)
        let missing = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 2])
        XCTAssertEqual(missing.status, 400)
        XCTAssert((missing.error ?? "").contains("class-conditional (3 classes)"), missing.error ?? "")
        let bad = try LoopbackHTTP.post(port: port, "/api/sample", ["count": 2, "class": 3])
        XCTAssertEqual(bad.status, 400)
        XCTAssert((bad.error ?? "").contains("class 3 is out of range 0…2"), bad.error ?? "")
    }
}

/// The library helpers the server uses (`GlowGPU/API/LatentEdits.swift`, PNG in memory).
final class ServeLibraryTests: XCTestCase {
    /// Directions of several labels equal `manipulationDirection` label by label; the file round-trips.
    func testManipulationDirections() throws {
        let f = try ServeFixture(self)
        let all = try f.reference.manipulationDirections(images: f.dataset, count: 4)
        XCTAssertEqual(all.labels, [0, 1, 2, 3])
        for (i, l) in all.labels.enumerated() {
            let one = try f.reference.manipulationDirection(images: f.dataset, label: l, count: 4)
            XCTAssertEqual(all.withLabel[i], one.withLabel)
            XCTAssertEqual(all.withoutLabel[i], one.withoutLabel)
            for (a, b) in zip(all.directions[i].levels, one.direction.levels) {
                XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max() ?? .infinity, 1e-5, "label \(l)")
            }
        }
        let path = try makeTempDirectory(self).appendingPathComponent("d.safetensors").path
        var d = all
        d.metadata = ["dataset": "random"]
        try d.write(to: path)
        XCTAssertEqual(try ManipulationDirections.read(path: path, shapes: f.reference.latentShapes), d)
        assertGlowError("missing label", contains: ["label 9", "0, 1, 2, 3"]) { _ = try d.direction(9) }
        assertGlowError("bad shapes", contains: [path, "direction.0.z.1"]) {
            _ = try ManipulationDirections.read(path: path, shapes: [LatentShape(channels: 2, height: 4, width: 4), LatentShape(channels: 4, height: 2, width: 2)])
        }
    }

    /// `shift(_:along:)` with several moves is the sum of `shift(_:along:alphas:)` moves.
    func testShiftAlongSeveral() throws {
        let f = try ServeFixture(self)
        let dirs = try f.reference.manipulationDirections(images: f.dataset, count: 4)
        let z = try f.reference.encode(try f.dataset.subset([1]))
        let both = try f.reference.shift(z, along: [(dirs.directions[0], 0.5), (dirs.directions[2], -2)])
        let step1 = try f.reference.shift(z, along: dirs.directions[0], alphas: [0.5])
        let step2 = try f.reference.shift(step1, along: dirs.directions[2], alphas: [-2])
        for (a, b) in zip(both.levels, step2.levels) { XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max() ?? .infinity, 1e-6) }
        XCTAssertEqual(try f.reference.shift(z, along: []).levels, z.levels)
        assertGlowError("NaN alpha", contains: ["alpha nan", "finite"]) { _ = try f.reference.shift(z, along: [(dirs.directions[0], .nan)]) }
    }

    /// `fitted` crops the centred square and area-resizes to the model's size.
    func testFitted() throws {
        let f = try ServeFixture(self)
        // 16×24: the centre 16×16 (columns 4…19) halves to 8×8.
        var px = [UInt8](repeating: 0, count: 16 * 24)
        for y in 0 ..< 16 { for x in 0 ..< 24 { px[y * 24 + x] = x >= 4 && x < 20 ? UInt8(10 * (y / 2) + (x - 4) / 2) : 255 } }
        let set = try f.reference.fitted(try ImageSet(count: 1, channels: 1, height: 16, width: 24, pixels: px))
        XCTAssertEqual([set.height, set.width], [8, 8])
        XCTAssertEqual(set.pixels, (0 ..< 64).map { UInt8(10 * ($0 / 8) + $0 % 8) })
        assertGlowError("RGB for a gray model", contains: ["3 channels", "takes 1"]) {
            _ = try f.reference.fitted(try ImageSet(count: 1, channels: 3, height: 8, width: 8, pixels: [UInt8](repeating: 0, count: 192)))
        }
    }

    /// The model card's test bpd: the last finite `test_bpd` of the metrics.jsonl beside the checkpoint.
    func testTestBPDFromMetrics() throws {
        let dir = try makeTempDirectory(self)
        let ckpt = dir.appendingPathComponent("checkpoint.safetensors").path
        XCTAssertNil(ServeSetup.testBPD(checkpoint: ckpt), "no metrics.jsonl: unknown")
        let lines = ["{\"step\": 1, \"train_bpd\": 7.5, \"test_bpd\": null}", "{\"step\": 250, \"train_bpd\": 3.1, \"test_bpd\": 3.25}",
                     "not json", "{\"step\": 500, \"train_bpd\": 2.9, \"test_bpd\": 2.875}", "{\"step\": 501, \"train_bpd\": 2.9, \"test_bpd\": null}"]
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let found = try XCTUnwrap(ServeSetup.testBPD(checkpoint: ckpt))
        XCTAssertEqual(found.bpd, 2.875)
        XCTAssert(found.source.hasSuffix("metrics.jsonl, step 500"), found.source)
        XCTAssertEqual(ServeSetup.directionsPath(checkpoint: ckpt), dir.appendingPathComponent("checkpoint.directions.safetensors").path)
    }

    /// PNG in memory: round trip, header, the pixel limit and non-PNG input.
    func testPNGInMemory() throws {
        let rgb = (0 ..< 5 * 3 * 3).map { UInt8($0 * 5) }
        let png = try PNGImage.encode(width: 5, height: 3, channels: 3, pixels: rgb)
        XCTAssertEqual(try PNGImage.header(bytes: png).width, 5)
        let back = try PNGImage.decode(bytes: png)
        XCTAssertEqual([back.width, back.height, back.channels], [5, 3, 3])
        XCTAssertEqual(back.pixels, rgb)
        XCTAssertThrowsError(try PNGImage.decode(bytes: png, maxPixels: 14)) { e in
            XCTAssert("\(e)".contains("5×3 pixels, more than the 14"), "\(e)")
        }
        XCTAssertThrowsError(try PNGImage.decode(bytes: Array("not a png at all".utf8))) { e in XCTAssert("\(e)".contains("not a PNG"), "\(e)") }
        XCTAssertThrowsError(try PNGImage.decode(bytes: Array(png.prefix(40)))) { e in XCTAssert(e is DataError, "\(e)") }
        XCTAssertThrowsError(try PNGImage.decode(bytes: [])) { e in XCTAssert(e is DataError, "\(e)") }
    }
}
