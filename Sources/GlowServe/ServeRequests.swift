// The JSON API's request bodies: parsed from bytes and checked against the limits before any
// model work, every problem a `RequestError` with a 4xx status naming the field. This file
// depends on Foundation and GlowCore only, so that Fuzz/serve.swift can compile it alone.
import Foundation
import GlowCore

/// A request the server refuses: the HTTP status (4xx, or 503/504 for a busy or slow model)
/// and a message for a person, sent as `{"error": message}`.
public struct RequestError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The HTTP status code.
    public let status: Int
    /// What is wrong, naming the input.
    public let message: String
    /// Makes an error.
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    /// `status: message`.
    public var description: String { "\(status): \(message)" }
}

/// What requests may ask for. The defaults suit a page on the same machine.
public struct ServeLimits: Sendable, Equatable {
    /// The largest request body in bytes (an upload travels base64-encoded inside it).
    public var maxBodyBytes = 8 << 20
    /// The largest uploaded image, in pixels (width × height), refused before it is decoded.
    public var maxUploadPixels = 4096 * 4096
    /// The most images one sample request draws (per class, for "all classes").
    public var maxSampleCount = 64
    /// The temperatures accepted.
    public var temperature: ClosedRange<Double> = 0 ... 2
    /// The most images of an interpolation row (ends included).
    public var maxSteps = 16
    /// The multiples of a manipulation direction accepted.
    public var alpha: ClosedRange<Double> = -4 ... 4
    /// The largest seed: 2⁵³ − 1, so that a JSON number holds every seed exactly.
    public var maxSeed: UInt64 = (1 << 53) - 1

    /// The defaults.
    public init() {}
}

/// An image a request names: one of the data set's (by index) or an uploaded PNG's bytes.
public enum ImageSource: Equatable, Sendable {
    /// Image `index` of the server's data set split.
    case dataset(index: Int)
    /// The bytes of an uploaded PNG file.
    case upload(png: [UInt8])
}

/// Which classes a sample request draws for (class-conditional models only).
public enum ClassChoice: Equatable, Sendable {
    /// One class.
    case one(Int)
    /// One grid row per class.
    case all
}

/// `POST /api/sample`: `{"temperature": 0.7, "seed": 0, "count": 16, "class": 3 | "all"}`.
public struct SampleRequest: Equatable, Sendable {
    /// The prior's temperature.
    public var temperature: Float
    /// The Philox seed.
    public var seed: UInt64
    /// Images (per class when `classChoice` is `.all`).
    public var count: Int
    /// The class or classes, `nil` when the body names none.
    public var classChoice: ClassChoice?

    /// Parses and checks a body. Missing fields take the defaults shown above (T = 0.7, seed 0, 16 images).
    /// - Throws: `RequestError` (400) naming the bad field or value.
    public static func parse(_ body: [UInt8], limits: ServeLimits) throws -> SampleRequest {
        let o = try JSONFields(body, route: "sample", allowed: ["temperature", "seed", "count", "class"])
        let t = try o.number("temperature", in: limits.temperature, default: 0.7)
        let seed = try o.integer("seed", in: 0 ... Int(limits.maxSeed), default: 0)
        let count = try o.integer("count", in: 1 ... limits.maxSampleCount, default: 16)
        var choice: ClassChoice?
        switch o.fields["class"] {
        case nil, .null?: choice = nil
        case .string("all")?: choice = .all
        default: choice = .one(try o.integer("class", in: 0 ... 1_000_000, default: 0))
        }
        return SampleRequest(temperature: Float(t), seed: UInt64(seed), count: count, classChoice: choice)
    }
}

/// `POST /api/interpolate`: `{"from": {"index": 3} | {"png": "<base64>"}, "to": …, "steps": 8, "class": c}`.
public struct InterpolateRequest: Equatable, Sendable {
    /// The first image.
    public var from: ImageSource
    /// The last image.
    public var to: ImageSource
    /// Images in the row, ends included.
    public var steps: Int
    /// The class of uploaded images, for a class-conditional model.
    public var classLabel: Int?

    /// Parses and checks a body (`steps` defaults to 8).
    /// - Throws: `RequestError` (400, or 413 for an upload over the limit) naming the bad field.
    public static func parse(_ body: [UInt8], limits: ServeLimits) throws -> InterpolateRequest {
        let o = try JSONFields(body, route: "interpolate", allowed: ["from", "to", "steps", "class"])
        return InterpolateRequest(from: try o.image("from"), to: try o.image("to"),
                                  steps: try o.integer("steps", in: 2 ... limits.maxSteps, default: 8),
                                  classLabel: try o.optionalInteger("class", in: 0 ... 1_000_000))
    }
}

/// `POST /api/manipulate`: `{"image": {"index": 3} | {"png": "<base64>"}, "alphas": {"3": 0.5, "7": -1}, "class": c}`.
public struct ManipulateRequest: Equatable, Sendable {
    /// The image to move.
    public var image: ImageSource
    /// α per label (labels as the model card lists them); labels not named stay at 0.
    public var alphas: [Int: Float]
    /// The class of an uploaded image, for a class-conditional model.
    public var classLabel: Int?

    /// Parses and checks a body (`alphas` defaults to none: the reconstruction).
    /// - Throws: `RequestError` (400) naming the bad field, label or value.
    public static func parse(_ body: [UInt8], limits: ServeLimits) throws -> ManipulateRequest {
        let o = try JSONFields(body, route: "manipulate", allowed: ["image", "alphas", "class"])
        var alphas: [Int: Float] = [:]
        switch o.fields["alphas"] {
        case nil, .null?: break
        case .object(let a)?:
            guard a.count <= 1000 else { throw RequestError(400, "manipulate: \"alphas\" names \(a.count) labels; at most 1000") }
            for (k, v) in a {
                guard let label = Int(k), label >= 0, String(label) == k else {
                    throw RequestError(400, "manipulate: \"alphas\" key \"\(JSONFields.clip(k))\" is not a label (an integer ≥ 0, e.g. \"3\")")
                }
                guard case .number(let x) = v else {
                    throw RequestError(400, "manipulate: alphas[\"\(k)\"] is \(v.kind), expected a number")
                }
                guard limits.alpha.contains(x) else {
                    throw RequestError(400, "manipulate: alphas[\"\(k)\"] \(JSONFields.show(x)) is out of range "
                        + "\(JSONFields.show(limits.alpha.lowerBound))…\(JSONFields.show(limits.alpha.upperBound))")
                }
                alphas[label] = Float(x)
            }
        case let v?: throw RequestError(400, "manipulate: \"alphas\" is \(v.kind), expected an object such as {\"3\": 0.5}")
        }
        return ManipulateRequest(image: try o.image("image"), alphas: alphas,
                                 classLabel: try o.optionalInteger("class", in: 0 ... 1_000_000))
    }
}

/// `POST /api/encode`: `{"png": "<base64>", "class": c}`, or the PNG itself as the body
/// (`Content-Type: image/png`).
public struct EncodeRequest: Equatable, Sendable {
    /// The uploaded PNG's bytes.
    public var png: [UInt8]
    /// The image's class, for a class-conditional model.
    public var classLabel: Int?

    /// Parses a JSON body, or takes `body` as the PNG when `contentType` is `image/png`.
    /// - Throws: `RequestError` (400) naming the bad field.
    public static func parse(_ body: [UInt8], contentType: String?, limits: ServeLimits) throws -> EncodeRequest {
        if let contentType, contentType.lowercased().hasPrefix("image/png") { return EncodeRequest(png: body, classLabel: nil) }
        let o = try JSONFields(body, route: "encode", allowed: ["png", "class"])
        return EncodeRequest(png: try o.upload("png"), classLabel: try o.optionalInteger("class", in: 0 ... 1_000_000))
    }
}

/// An uploaded PNG decoded to one image of `channels` channels, refused with 413 when its
/// header says more than `limits.maxUploadPixels` pixels and with 400 when it is not a PNG.
/// - Throws: `RequestError` naming the problem.
public func decodeUpload(_ png: [UInt8], channels: Int, limits: ServeLimits, field: String) throws -> ImageSet {
    let header: (width: Int, height: Int, channels: Int)
    do { header = try PNGImage.header(bytes: png) } catch let e as DataError {
        throw RequestError(400, "\(field): \(e.problem)")
    }
    let side = Int(Double(limits.maxUploadPixels).squareRoot())
    guard let px = Sizes.product(header.width, header.height), px <= limits.maxUploadPixels else {
        throw RequestError(413, "\(field): the PNG is \(header.width)×\(header.height) pixels; at most \(limits.maxUploadPixels) "
            + "(e.g. \(side)×\(side)) are accepted")
    }
    do {
        let img = try PNGImage.decode(bytes: png, channels: channels, maxPixels: limits.maxUploadPixels)
        var chw = [UInt8](repeating: 0, count: img.pixels.count)
        let hw = img.width * img.height
        for p in 0 ..< hw { for c in 0 ..< channels { chw[c * hw + p] = img.pixels[p * channels + c] } }
        return try ImageSet(count: 1, channels: channels, height: img.height, width: img.width, pixels: chw)
    } catch let e as DataError {
        throw RequestError(400, "\(field): \(e.problem)")
    }
}

/// A JSON value, as the request bodies use them.
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null } else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// The value's kind, for messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A request body's top-level object, with typed, range-checked reads that name the field.
struct JSONFields {
    let fields: [String: JSONValue]
    let route: String

    /// Parses `body` as a JSON object whose keys are all in `allowed` (an empty body is `{}`).
    init(_ body: [UInt8], route: String, allowed: Set<String>) throws {
        self.route = route
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { fields = [:]; return }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(body)) } catch {
            throw RequestError(400, "\(route): the body is not valid JSON (NaN and Infinity are not JSON numbers)")
        }
        guard case .object(let o) = value else { throw RequestError(400, "\(route): the body is \(value.kind), expected a JSON object") }
        if let bad = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw RequestError(400, "\(route): unknown field \"\(Self.clip(bad))\" (fields: \(allowed.sorted().joined(separator: ", ")))")
        }
        fields = o
    }

    /// A number in `range` (`default` when absent or null).
    func number(_ key: String, in range: ClosedRange<Double>, default d: Double) throws -> Double {
        switch fields[key] {
        case nil, .null?: return d
        case .number(let x)?:
            guard x.isFinite, range.contains(x) else {
                throw RequestError(400, "\(route): \(key) \(Self.show(x)) is out of range \(Self.show(range.lowerBound))…\(Self.show(range.upperBound))")
            }
            return x
        case let v?: throw RequestError(400, "\(route): \(key) is \(v.kind), expected a number")
        }
    }

    /// An integer in `range` (`default` when absent or null).
    func integer(_ key: String, in range: ClosedRange<Int>, default d: Int) throws -> Int {
        try optionalInteger(key, in: range) ?? d
    }

    /// An integer in `range`, or nil when absent or null.
    func optionalInteger(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        switch fields[key] {
        case nil, .null?: return nil
        case .number(let x)?:
            guard x.isFinite, x == x.rounded(), x >= Double(range.lowerBound), x <= Double(range.upperBound) else {
                throw RequestError(400, "\(route): \(key) \(Self.show(x)) must be an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return Int(x)
        case let v?: throw RequestError(400, "\(route): \(key) is \(v.kind), expected an integer")
        }
    }

    /// The image named by `key` (`{"index": i}` or `{"png": base64}`).
    func image(_ key: String) throws -> ImageSource {
        let name = key
        guard let v = fields[key] else { throw RequestError(400, "\(route): missing field \"\(key)\" ({\"index\": i} or {\"png\": \"<base64>\"})") }
        guard case .object(let inner) = v else {
            throw RequestError(400, "\(route): \(key) is \(v.kind), expected {\"index\": i} or {\"png\": \"<base64>\"}")
        }
        let sub = JSONFields(fields: inner, route: "\(route): \(name)")
        if let bad = inner.keys.sorted().first(where: { $0 != "index" && $0 != "png" }) {
            throw RequestError(400, "\(route): \(name) has unknown field \"\(Self.clip(bad))\" (index or png)")
        }
        switch (inner["index"], inner["png"]) {
        case (let i?, nil) where i != .null:
            return .dataset(index: try sub.integer("index", in: 0 ... Int(Int32.max), default: 0))
        case (nil, let p?) where p != .null:
            return .upload(png: try sub.upload("png"))
        default:
            throw RequestError(400, "\(route): \(name) needs exactly one of \"index\" and \"png\"")
        }
    }

    /// The base64 bytes of field `key` (a `data:` URL prefix is allowed).
    func upload(_ key: String) throws -> [UInt8] {
        guard let v = fields[key] else { throw RequestError(400, "\(route): missing field \"\(key)\" (a PNG file, base64)") }
        guard case .string(var s) = v else { throw RequestError(400, "\(route): \(key) is \(v.kind), expected a base64 string") }
        if s.hasPrefix("data:"), let comma = s.firstIndex(of: ",") { s = String(s[s.index(after: comma)...]) }
        guard let data = Data(base64Encoded: s, options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw RequestError(400, "\(route): \(key) is not base64 data")
        }
        return [UInt8](data)
    }

    private init(fields: [String: JSONValue], route: String) { self.fields = fields; self.route = route }

    /// A number for messages (`1e+30`, `0.7`, `nan`).
    static func show(_ x: Double) -> String { String(format: "%g", x) }

    /// At most 40 characters of a key for messages.
    static func clip(_ s: String) -> String { s.count <= 40 ? s : String(s.prefix(40)) + "…" }
}
