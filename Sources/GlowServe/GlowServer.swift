import Foundation
import FlyingFox
import FlyingSocks
import GlowGPU

/// The images the server's data-set panels pick from: one split of a data set, already made the
/// model's size before its padding (`GlowModel.fitted(_:)`), with its labels when it has them.
public struct ServeDataset: Sendable {
    /// The data set's name (`mnist`, …), for the model card.
    public var name: String
    /// `train` or `test`.
    public var split: String
    /// The images.
    public var images: ImageSet
    /// Names of labels, when the data set has them (CIFAR-10's and Fashion-MNIST's classes).
    public var labelNames: [Int: String]

    /// Wraps the images.
    public init(name: String, split: String, images: ImageSet, labelNames: [Int: String] = [:]) {
        self.name = name; self.split = split; self.images = images; self.labelNames = labelNames
    }
}

/// `glow-gpu serve`: one model behind a small JSON API and the page that uses it, on FlyingFox.
///
/// Every route calls the public `GlowModel` API: `sample`, `interpolate(images:from:to:steps:)`,
/// `encode`, `shift(_:along:)` and `decodePixels`. Model calls go through a `ModelQueue` (one at
/// a time, bounded, 503 when full). Requests are parsed by `SampleRequest` & co. before any model
/// work, and every refusal is a 4xx (or 503/504) with `{"error": "…"}`. See docs/serve.md.
///
/// ```swift
/// let server = GlowServer(model: model, dataset: nil, directions: nil, options: .init(port: 0))
/// let port = try await server.start()      // http://127.0.0.1:port/
/// ```
public final class GlowServer: @unchecked Sendable {
    /// Where and how to serve.
    public struct Options: Sendable {
        /// The address to bind: an IPv4 or IPv6 literal, or `localhost` (127.0.0.1).
        public var host: String
        /// The port; 0 asks the system for a free one (`start()` returns it).
        public var port: Int
        /// What requests may ask for.
        public var limits: ServeLimits
        /// Model calls running or waiting at once; one more gets 503.
        public var queueCapacity: Int
        /// Seconds a model call may take from arrival to answer (503 while waiting, 504 once running).
        public var timeout: Double
        /// Seconds a connection may stay silent before it is closed.
        public var idleTimeout: Double
        /// The checkpoint's path, for the model card.
        public var checkpoint: String?
        /// The test bpd to show on the model card, when known.
        public var testBPD: Double?
        /// Where the test bpd came from (e.g. `metrics.jsonl, step 1006`).
        public var testBPDSource: String?

        /// Options; the defaults bind 127.0.0.1:8080.
        public init(host: String = "127.0.0.1", port: Int = 8080, limits: ServeLimits = ServeLimits(), queueCapacity: Int = 4,
                    timeout: Double = 30, idleTimeout: Double = 10, checkpoint: String? = nil, testBPD: Double? = nil,
                    testBPDSource: String? = nil) {
            self.host = host; self.port = port; self.limits = limits; self.queueCapacity = queueCapacity
            self.timeout = timeout; self.idleTimeout = idleTimeout; self.checkpoint = checkpoint
            self.testBPD = testBPD; self.testBPDSource = testBPDSource
        }
    }

    /// The options it was made with.
    public let options: Options
    /// The model calls' queue (its `hold()` lets tests fill it).
    public let queue: ModelQueue
    private let config: GlowConfig
    private let deviceName: String
    private let dataset: ServeDataset?
    private let directions: ManipulationDirections?
    private let doomed = DoomedConnections()
    private let lock = NSLock()
    private var http: HTTPServer?
    private var runTask: Task<Void, Error>?

    /// A server for `model` (which it then owns: use it no more from elsewhere), with the data
    /// set the interpolation and manipulation panels pick from and the directions of its labels.
    public init(model: GlowModel, dataset: ServeDataset?, directions: ManipulationDirections?, options: Options) {
        self.config = model.config
        self.deviceName = model.deviceName
        self.dataset = dataset
        self.directions = directions
        self.options = options
        self.queue = ModelQueue(model: model, capacity: options.queueCapacity, timeout: options.timeout)
    }

    /// Binds and starts serving; returns the port (the one asked for, or the system's choice for 0).
    /// - Throws: `GlowError` naming the host and port when the address is bad or cannot be bound.
    @discardableResult
    public func start() async throws -> Int {
        guard (0 ... 65535).contains(options.port) else { throw GlowError("--port \(options.port): must be 0…65535") }
        let port = UInt16(options.port)
        let address: any SocketAddress
        let host = options.host == "localhost" ? "127.0.0.1" : options.host
        do {
            if host.contains(":") { address = try sockaddr_in6.inet6(ip6: host, port: port) } else { address = try sockaddr_in.inet(ip4: host, port: port) }
        } catch {
            throw GlowError("--host \(options.host): not an IP address; give e.g. 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or ::1")
        }
        let pool = GuardedSocketPool(base: HTTPServer.defaultPool(), idleSeconds: options.idleTimeout, doomed: doomed)
        let config = HTTPServer.Configuration(address: address, timeout: options.timeout + 30,
                                              sharedRequestReplaySize: options.limits.maxBodyBytes, pool: pool, logger: .disabled)
        let server = HTTPServer(config: config, handler: Handler(server: self))
        let failure = FailureBox()
        let task = Task {
            do { try await server.run() } catch { failure.set(error); throw error }
        }
        lock.withLock { http = server; runTask = task }
        // Listening, or run() failing (a port in use): checked every 10 ms for at most 30 s.
        for _ in 0 ..< 3000 {
            if await server.isListening { break }
            if let e = failure.error {
                throw GlowError("cannot listen on \(options.host):\(options.port): \((e as? LocalizedError)?.errorDescription ?? "\(e)")")
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        guard let bound = await server.listeningAddress else { throw GlowError("cannot read the listening address") }
        switch bound {
        case let .ip4(_, p), let .ip6(_, p): return Int(p)
        case .unix: return options.port
        }
    }

    /// Stops listening and closes the connections.
    public func stop() async {
        let (server, task) = lock.withLock { (http, runTask) }
        await server?.stop(timeout: 0)
        task?.cancel()
    }

    /// Waits until the server stops (it runs until `stop()` or an error).
    public func wait() async throws {
        let task = lock.withLock { runTask }
        try await task?.value
    }

    // MARK: Routing

    private struct Handler: HTTPHandler {
        let server: GlowServer
        func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse { await server.respond(request) }
    }

    /// The routes: path → (method, what it does).
    static let routes: [String: HTTPMethod] = [
        "/": .GET, "/index.html": .GET, "/app.js": .GET, "/style.css": .GET, "/api/model": .GET, "/api/dataset": .GET,
        "/api/sample": .POST, "/api/interpolate": .POST, "/api/manipulate": .POST, "/api/encode": .POST,
    ]

    func respond(_ request: HTTPRequest) async -> HTTPResponse {
        do {
            let path = request.path
            guard let method = Self.routes[path] else {
                throw RequestError(404, "no route \(Self.clip(path)); the API is GET /api/model, GET /api/dataset?index=I, "
                    + "POST /api/sample, /api/interpolate, /api/manipulate, /api/encode")
            }
            guard request.method == method else {
                throw RequestError(405, "\(Self.clip(path)) takes \(method.rawValue), not \(Self.clip(request.method.rawValue))")
            }
            switch path {
            case "/", "/index.html": return Self.file(PackageResources.index_html, type: "text/html; charset=utf-8")
            case "/app.js": return Self.file(PackageResources.app_js, type: "text/javascript; charset=utf-8")
            case "/style.css": return Self.file(PackageResources.style_css, type: "text/css; charset=utf-8")
            case "/api/model": return Self.json(200, modelCard())
            case "/api/dataset": return Self.json(200, try datasetImage(request.query.first { $0.name == "index" }?.value))
            default: break
            }
            let body = try await readBody(request)
            switch path {
            case "/api/sample": return Self.json(200, try await sample(SampleRequest.parse(body, limits: options.limits)))
            case "/api/interpolate": return Self.json(200, try await interpolate(InterpolateRequest.parse(body, limits: options.limits)))
            case "/api/manipulate": return Self.json(200, try await manipulate(ManipulateRequest.parse(body, limits: options.limits)))
            default:
                return Self.json(200, try await encode(EncodeRequest.parse(body, contentType: request.headers[.contentType],
                                                                          limits: options.limits)))
            }
        } catch let e as RequestError {
            return Self.json(e.status, ["error": e.message])
        } catch let e as GlowError {
            return Self.json(422, ["error": e.message])
        } catch let e as DataError {
            return Self.json(422, ["error": e.description])
        } catch {
            return Self.json(500, ["error": "internal error: \(error)"])
        }
    }

    /// The body, at most `limits.maxBodyBytes` (413 past that, and the connection is closed).
    private func readBody(_ request: HTTPRequest) async throws -> [UInt8] {
        let limit = options.limits.maxBodyBytes
        if let text = request.headers[.contentLength], let n = Int(text), n > limit {
            doomed.close(peer: request.remoteAddress)
            throw RequestError(413, "the request body is \(n) bytes; at most \(limit) are accepted")
        }
        var out: [UInt8] = []
        for try await chunk in request.bodySequence {
            out.append(contentsOf: chunk)
            if out.count > limit {
                doomed.close(peer: request.remoteAddress)
                throw RequestError(413, "the request body is over \(limit) bytes, the most accepted")
            }
        }
        return out
    }

    // MARK: Routes

    private func sample(_ r: SampleRequest) async throws -> [String: Any] {
        let classes: [Int?]
        switch (r.classChoice, config.classes) {
        case (nil, 0): classes = [nil]
        case (nil, let n): throw RequestError(400, "sample: this model is class-conditional (\(n) classes): give \"class\": 0…\(n - 1) or \"all\"")
        case (_?, 0): throw RequestError(400, "sample: this model is unconditional; omit \"class\"")
        case (.all?, let n):
            guard n * r.count <= 4 * options.limits.maxSampleCount else {
                throw RequestError(400, "sample: \(n) classes × \(r.count) images is more than \(4 * options.limits.maxSampleCount); ask for fewer")
            }
            classes = (0 ..< n).map { $0 }
        case (.one(let c)?, let n):
            guard c < n else { throw RequestError(400, "sample: class \(c) is out of range 0…\(n - 1)") }
            classes = [c]
        }
        let c = config
        let start = DispatchTime.now()
        let images = try await queue.run("sample") { m -> ([GeneratedImages], images: Int) in
            let images = try classes.map { try m.sample(count: r.count, temperature: r.temperature, seed: r.seed, classLabel: $0) }
            return (images, r.count * classes.count)
        }
        let rows = images.map(\.pixels)
        // Indices into the whole grid (row by row) of the images drawn as crossed placeholders.
        let notFinite = images.enumerated().flatMap { row, im in im.notFinite.map { row * r.count + $0 } }
        let seconds = Self.seconds(since: start)
        let grid = classes.count == 1
            ? try ImageGrid.make(images: rows[0], count: r.count, channels: c.channels, height: c.height, width: c.width,
                                 columns: Int(Double(r.count).squareRoot().rounded(.up)))
            : try ImageGrid.rows(rows, channels: c.channels, height: c.height, width: c.width)
        let n = r.count * classes.count
        return ["png": try Self.png(grid), "count": n, "temperature": Double(r.temperature), "seed": Double(r.seed),
                "seconds": seconds, "images_per_second": Double(n) / max(seconds, 1e-9), "not_finite": notFinite]
    }

    private func interpolate(_ r: InterpolateRequest) async throws -> [String: Any] {
        let from = try source(r.from, field: "from"), to = try source(r.to, field: "to")
        let label = r.classLabel
        let start = DispatchTime.now()
        let row = try await queue.run("interpolate") { m -> (GeneratedImages, images: Int) in
            let pair = try Self.join(try self.prepare(from, m, label, "from"), try self.prepare(to, m, label, "to"))
            return (try m.interpolate(images: pair, from: 0, to: 1, steps: r.steps), r.steps)
        }
        let seconds = Self.seconds(since: start)
        let grid = try ImageGrid.make(images: row.pixels, count: row.count, channels: row.channels, height: row.height,
                                      width: row.width, columns: row.count)
        return ["png": try Self.png(grid), "steps": r.steps, "seconds": seconds]
    }

    private func manipulate(_ r: ManipulateRequest) async throws -> [String: Any] {
        guard let directions else {
            throw RequestError(409, "manipulate: this server has no label directions (it needs a labelled data set: --dataset)")
        }
        let moves = try r.alphas.keys.sorted().map { l -> (direction: Latents, alpha: Float) in
            guard let d = try? directions.direction(l) else {
                throw RequestError(400, "manipulate: label \(l) has no direction (labels: \(directions.labels.map(String.init).joined(separator: ", ")))")
            }
            return (d, r.alphas[l]!)
        }
        let image = try source(r.image, field: "image")
        let label = r.classLabel
        let start = DispatchTime.now()
        let (out, bpd) = try await queue.run("manipulate") { m -> ((GeneratedImages, Double), images: Int) in
            let z = try m.encode(try self.prepare(image, m, label, "image"))
            return ((try m.decodePixels(try m.shift(z, along: moves)), z.bpd.first ?? .nan), 1)
        }
        return ["png": try Self.png(try Self.single(out)), "bpd": bpd, "seconds": Self.seconds(since: start)]
    }

    private func encode(_ r: EncodeRequest) async throws -> [String: Any] {
        let upload = try decodeUpload(r.png, channels: config.channels, limits: options.limits, field: "png")
        let label = r.classLabel
        let start = DispatchTime.now()
        let (set, z, recon) = try await queue.run("encode") { m -> ((ImageSet, Latents, GeneratedImages), images: Int) in
            let set = try self.prepare(.upload(upload), m, label, "png")
            let z = try m.encode(set)
            return ((set, z, try m.decodePixels(z)), 1)
        }
        let input = try GeneratedImages(count: 1, channels: set.channels, height: set.height, width: set.width, pixels: set.pixels)
        return ["bpd": z.bpd.first ?? .nan, "png": try Self.png(try Self.single(recon)), "input_png": try Self.png(try Self.single(input)),
                "uploaded": ["width": upload.width, "height": upload.height], "seconds": Self.seconds(since: start)]
    }

    private func datasetImage(_ index: String?) throws -> [String: Any] {
        guard let dataset else { throw RequestError(409, "dataset: this server has no data set (--dataset)") }
        guard let text = index, let i = Int(text) else {
            throw RequestError(400, "dataset: give ?index=I with an integer I in 0…\(dataset.images.count - 1)")
        }
        guard (0 ..< dataset.images.count).contains(i) else {
            throw RequestError(400, "dataset: index \(i) is out of range 0…\(dataset.images.count - 1)")
        }
        let one = try dataset.images.subset([i])
        let img = try GeneratedImages(count: 1, channels: one.channels, height: one.height, width: one.width, pixels: one.pixels)
        var out: [String: Any] = ["index": i, "png": try Self.png(try Self.single(img))]
        if let l = one.labels?.first { out["label"] = l }
        return out
    }

    /// The model card: configuration, device, test bpd, data set, labels, last call, limits.
    func modelCard() -> [String: Any] {
        let c = config
        // The checkpoint's config keys (GlowConfig.json()), with booleans kept as booleans.
        let configJSON: [String: Any] = [
            "image_shape": [c.channels, c.height, c.width], "K": c.K, "L": c.L, "hidden": c.hidden,
            "coupling": c.coupling.rawValue, "permutation": c.permutation.rawValue, "lu": c.lu, "learn_top": c.learnTop,
            "classes": c.classes, "n_bits": c.nBits, "pad": c.pad,
        ]
        var card: [String: Any] = [
            "config": configJSON, "device": deviceName, "image": ["channels": c.channels, "height": c.height, "width": c.width],
            "classes": c.classes, "checkpoint": options.checkpoint ?? NSNull(), "test_bpd": options.testBPD ?? NSNull(),
            "test_bpd_source": options.testBPDSource ?? NSNull(),
            "limits": ["max_body_bytes": options.limits.maxBodyBytes, "max_upload_pixels": options.limits.maxUploadPixels,
                       "max_sample_count": options.limits.maxSampleCount,
                       "temperature": [options.limits.temperature.lowerBound, options.limits.temperature.upperBound],
                       "max_steps": options.limits.maxSteps, "alpha": [options.limits.alpha.lowerBound, options.limits.alpha.upperBound]],
            "queue": ["capacity": queue.capacity, "busy": queue.busy, "timeout_seconds": queue.timeout],
        ]
        if let dataset {
            card["dataset"] = ["name": dataset.name, "split": dataset.split, "count": dataset.images.count]
        } else {
            card["dataset"] = NSNull()
        }
        card["labels"] = (directions?.labels ?? []).map { l -> [String: Any] in
            ["label": l, "name": dataset?.labelNames[l] ?? String(l)]
        }
        if let last = queue.lastCall {
            card["last_call"] = ["route": last.route, "images": last.images, "seconds": last.seconds,
                                 "images_per_second": last.imagesPerSecond]
        } else {
            card["last_call"] = NSNull()
        }
        return card
    }

    // MARK: Helpers

    /// An image source's pixels: a data-set image (already the model's size) or a decoded upload.
    private enum Picked { case dataset(ImageSet), upload(ImageSet) }

    private func source(_ s: ImageSource, field: String) throws -> Picked {
        switch s {
        case .dataset(let i):
            guard let dataset else { throw RequestError(409, "\(field): this server has no data set (--dataset); upload a PNG instead") }
            guard i < dataset.images.count else {
                throw RequestError(400, "\(field): data-set index \(i) is out of range 0…\(dataset.images.count - 1)")
            }
            return .dataset(try dataset.images.subset([i]))
        case .upload(let png):
            return .upload(try decodeUpload(png, channels: config.channels, limits: options.limits, field: field))
        }
    }

    /// One image made the model's size (uploads resized) with the label a conditional model needs.
    private func prepare(_ p: Picked, _ m: GlowModel, _ label: Int?, _ field: String) throws -> ImageSet {
        let n = config.classes
        switch p {
        case .dataset(let set):
            guard n > 0 else { return try ImageSet(count: 1, channels: set.channels, height: set.height, width: set.width, pixels: set.pixels) }
            guard let l = set.labels?.first, l < n else {
                throw RequestError(400, "\(field): the data-set image has no label among the model's \(n) classes")
            }
            return set
        case .upload(let img):
            let fitted = try m.fitted(img)
            guard n > 0 else { return fitted }
            guard let label else { throw RequestError(400, "\(field): this model is class-conditional: give \"class\": 0…\(n - 1) for uploads") }
            guard label < n else { throw RequestError(400, "class \(label) is out of range 0…\(n - 1)") }
            return try ImageSet(count: 1, channels: fitted.channels, height: fitted.height, width: fitted.width, pixels: fitted.pixels,
                                labels: [label], classes: n)
        }
    }

    private static func join(_ a: ImageSet, _ b: ImageSet) throws -> ImageSet {
        let labels: [Int]? = (a.labels != nil && b.labels != nil) ? a.labels! + b.labels! : nil
        return try ImageSet(count: 2, channels: a.channels, height: a.height, width: a.width, pixels: a.pixels + b.pixels,
                            labels: labels, classes: labels == nil ? 0 : max(a.classes, b.classes))
    }

    private static func single(_ g: GeneratedImages) throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        (g.width, g.height, g.channels, try g.hwc(0))
    }

    /// HWC pixels as base64 PNG.
    static func png(_ g: (width: Int, height: Int, channels: Int, pixels: [UInt8])) throws -> String {
        Data(try PNGImage.encode(width: g.width, height: g.height, channels: g.channels, pixels: g.pixels)).base64EncodedString()
    }

    static func file(_ bytes: [UInt8], type: String) -> HTTPResponse {
        HTTPResponse(statusCode: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: Data(bytes))
    }

    /// A JSON response; non-finite numbers become null.
    static func json(_ status: Int, _ object: [String: Any]) -> HTTPResponse {
        let data = (try? JSONSerialization.data(withJSONObject: sanitize(object), options: [.sortedKeys]))
            ?? Data("{\"error\": \"the response could not be encoded\"}".utf8)
        return HTTPResponse(statusCode: HTTPStatusCode(status, phrase: phrase(status)),
                            headers: [.contentType: "application/json", .cacheControl: "no-store"], body: data)
    }

    private static func sanitize(_ v: Any) -> Any {
        switch v {
        case let d as Double: return d.isFinite ? d : NSNull()
        case let o as [String: Any]: return o.mapValues(sanitize)
        case let a as [Any]: return a.map(sanitize)
        default: return v
        }
    }

    private static func phrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 422: return "Unprocessable Content"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Error"
        }
    }

    private static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    private static func clip(_ s: String) -> String { s.count <= 60 ? s : String(s.prefix(60)) + "…" }
}

/// The error that ended the server's run task, if any.
private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ e: Error) { lock.withLock { stored = e } }
    var error: Error? { lock.withLock { stored } }
}
