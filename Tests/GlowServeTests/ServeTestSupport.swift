import Foundation
import XCTest
@_exported import GlowCoreTests
@testable import GlowCore
import GlowCPU
import GlowGPU
import GlowServe

/// A fresh temporary folder, removed after the test.
func makeTempDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-serve-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Deterministic test data: U(low, high) from Philox with a per-call stream.
func randomValues(_ count: Int, seed: UInt64, stream: UInt64, low: Float, high: Float) -> [Float] {
    Philox.array(count: count, distribution: .uniform(low: low, high: high), seed: seed, stream: stream)
}

/// A freshly initialised model on the CPU (as GlowTests' `makeTestModel`): ActNorm initialised on
/// random images, and the zero-initialised layers given small random values so that it is not
/// the identity.
func makeServeTestModel(_ config: GlowConfig, seed: UInt64, labels: [Int]?) throws -> Glow<CPUBackend> {
    let b = CPUBackend()
    let model = try Glow(config: config, backend: b, seed: seed)
    let n = labels?.count ?? 4
    let x = try Tensor(b, nchw: randomValues(n * config.dimension, seed: seed, stream: 1, low: -0.5, high: 0.5),
                       images: n, channels: config.channels, height: config.height, width: config.width)
    _ = try model.encode(x, labels: labels, initialize: true)
    var s: UInt64 = 500
    for p in model.parameters where p.name.contains("conv_zeros") || p.name.contains("y_embed") || p.name.contains("classifier") {
        s += 1
        try b.upload(randomValues(p.count, seed: seed, stream: s, low: -0.05, high: 0.05), to: p.value, offset: 0)
    }
    try model.refresh()
    return model
}

/// A minimal HTTP/1.1 client over a blocking socket to 127.0.0.1 (tests only): one request per
/// connection (`Connection: close`), every read and write bounded by `timeout` seconds, so
/// that malformed requests can be sent byte for byte.
enum LoopbackHTTP {
    struct Response {
        /// The status code, or 0 when the server closed the connection without an answer.
        let status: Int
        let headers: [String: String]
        let body: [UInt8]

        /// The body as a JSON object (nil when it is not one).
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        /// `json["error"]`.
        var error: String? { json?["error"] as? String }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Opens a connection to 127.0.0.1:`port` with `timeout`-second send and receive timeouts.
    static func connect(port: Int, timeout: Double = 60) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { close(fd); throw Failure(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)") }
        return fd
    }

    /// Writes all of `bytes` (stops quietly when the server has closed the connection).
    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            done += n
        }
    }

    /// Reads until the server closes the connection (or `limit` bytes, or the timeout).
    static func readAll(_ fd: Int32, limit: Int = 64 << 20) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer[0 ..< n]
        }
        return out
    }

    /// Sends raw bytes and parses whatever comes back.
    static func raw(port: Int, _ bytes: [UInt8], timeout: Double = 60) throws -> Response {
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        send(fd, bytes)
        return parse(readAll(fd))
    }

    /// One request: `method path` with `body` and extra `headers`.
    static func request(port: Int, _ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:],
                        timeout: Double = 60) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        var h = headers
        if h["Content-Length"] == nil && (!body.isEmpty || method == "POST") { h["Content-Length"] = String(body.count) }
        for (k, v) in h.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        return try raw(port: port, Array(head.utf8) + body, timeout: timeout)
    }

    /// POSTs a JSON object.
    static func post(port: Int, _ path: String, _ object: [String: Any]) throws -> Response {
        try request(port: port, "POST", path, body: [UInt8](try JSONSerialization.data(withJSONObject: object)),
                    headers: ["Content-Type": "application/json"])
    }

    static func parse(_ bytes: [UInt8]) -> Response {
        let sep: [UInt8] = [13, 10, 13, 10]
        guard let end = (0 ..< max(0, bytes.count - 3)).first(where: { Array(bytes[$0 ..< $0 + 4]) == sep }) else {
            return Response(status: 0, headers: [:], body: bytes)
        }
        let lines = String(decoding: bytes[0 ..< end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        let status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            if let c = line.firstIndex(of: ":") {
                headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = Array(bytes[(end + 4)...])
        if let n = headers["content-length"].flatMap(Int.init), n < body.count { body = Array(body.prefix(n)) }
        return Response(status: status, headers: headers, body: body)
    }
}

/// A tiny checkpoint, a labelled data set of random images and two `GlowModel`s loaded from the
/// checkpoint: one for the server, one for the test's reference computations.
struct ServeFixture {
    static let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8)
    let checkpoint: String
    let dataset: ImageSet
    let reference: GlowModel

    init(_ test: XCTestCase, config: GlowConfig = ServeFixture.config, labels: Int = 4, images: Int = 24) throws {
        let dir = try makeTempDirectory(test)
        let model = try makeServeTestModel(config, seed: 21, labels: config.classes > 0 ? [0, 1, 2, 3].map { $0 % config.classes } : nil)
        checkpoint = dir.appendingPathComponent("tiny.safetensors").path
        try Checkpoint.save(model, to: checkpoint)
        let px = randomValues(images * config.dimension, seed: 9, stream: 4, low: 0, high: 255).map { UInt8($0) }
        dataset = try ImageSet(count: images, channels: config.channels, height: config.height, width: config.width,
                               pixels: px, labels: (0 ..< images).map { $0 % labels }, classes: labels)
        reference = try GlowModel(checkpoint: checkpoint, device: "cpu")
    }

    /// A running in-process server on an ephemeral port (stopped at the end of the test).
    func server(_ test: XCTestCase, options: GlowServer.Options = GlowServer.Options(port: 0), directionCount: Int = 5)
        throws -> (GlowServer, Int) {
        let model = try GlowModel(checkpoint: checkpoint, device: "cpu")
        let directions = try model.manipulationDirections(images: dataset, count: directionCount)
        var o = options
        o.port = 0
        o.host = "127.0.0.1"
        let server = GlowServer(model: model, dataset: ServeDataset(name: "random", split: "test", images: dataset),
                                directions: directions, options: o)
        let port = try blocking { try await server.start() }
        test.addTeardownBlock { try? blocking { await server.stop() } }
        return (server, port)
    }
}

/// Runs async `body` from synchronous test code, waiting at most `timeout` seconds.
func blocking<T>(timeout: Double = 120, _ body: @escaping () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = BlockingBox<T>()
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    guard done.wait(timeout: .now() + timeout) == .success, let result = box.result else {
        throw LoopbackHTTP.Failure(description: "an async call did not finish within \(timeout) s")
    }
    return try result.get()
}

private final class BlockingBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

/// The base64 PNG of `field` in `json`, decoded to HWC pixels.
func decodePNGField(_ json: [String: Any]?, _ field: String = "png") throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    guard let s = json?[field] as? String, let data = Data(base64Encoded: s) else {
        throw LoopbackHTTP.Failure(description: "no base64 PNG in field '\(field)' of \(String(describing: json))")
    }
    return try PNGImage.decode(bytes: [UInt8](data))
}

/// `images` (one image, NCHW) as HWC bytes.
func hwcOfOne(_ set: ImageSet) -> [UInt8] {
    let hw = set.height * set.width
    var out = [UInt8](repeating: 0, count: hw * set.channels)
    for c in 0 ..< set.channels { for p in 0 ..< hw { out[p * set.channels + c] = set.pixels[c * hw + p] } }
    return out
}

/// A PNG file's bytes for one NCHW image.
func pngBytes(_ set: ImageSet) throws -> [UInt8] {
    try PNGImage.encode(width: set.width, height: set.height, channels: set.channels, pixels: hwcOfOne(set))
}

/// Resident memory of process `pid` in kB (`VmRSS`), or nil.
func residentKB(pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}
