// SafeTensors.swift — reading and writing the safetensors checkpoint format.
//
// Layout: an 8-byte little-endian UInt64 header length N, then N bytes of a
// JSON object, then the raw little-endian tensor bytes. Each JSON key is a
// tensor name mapping to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the start of the data section); the optional key
// "__metadata__" holds a string-to-string map.
//
// Every input-derived value is validated before use, so arbitrary bytes can
// only ever produce a thrown `SafeTensorsError`, never a crash.

import Foundation

/// The element data of one tensor. Only the two dtypes the Glow engine needs
/// are supported: 32-bit floats (weights, activations) and 64-bit integers
/// (step counters, seeds, shapes).
public enum TensorData: Sendable, Equatable {
    /// Little-endian IEEE-754 single precision values (safetensors dtype `F32`).
    case f32([Float])
    /// Little-endian signed 64-bit integers (safetensors dtype `I64`).
    case i64([Int64])

    /// The safetensors dtype string for this case.
    public var dtype: String {
        switch self {
        case .f32: return "F32"
        case .i64: return "I64"
        }
    }

    /// The number of elements held.
    public var count: Int {
        switch self {
        case .f32(let v): return v.count
        case .i64(let v): return v.count
        }
    }

    /// Bytes per element of this dtype.
    var elementSize: Int {
        switch self {
        case .f32: return MemoryLayout<Float>.size
        case .i64: return MemoryLayout<Int64>.size
        }
    }
}

/// One named tensor: a row-major shape plus its flat element data.
public struct NamedTensor: Sendable, Equatable {
    /// The tensor's key in the file, e.g. `levels.0.actnorm.bias`.
    public var name: String
    /// Dimensions, outermost first. `[]` is a scalar (one element).
    public var shape: [Int]
    /// The flat, row-major element data.
    public var data: TensorData

    /// Creates a tensor. No validation happens here (the struct is a plain
    /// value); `SafeTensorsFile.add` and `encode()` check shape/count agreement.
    public init(name: String, shape: [Int], data: TensorData) {
        self.name = name
        self.shape = shape
        self.data = data
    }

    /// The data as floats, or nil when the tensor is not F32.
    public var floats: [Float]? {
        if case .f32(let v) = data { return v }
        return nil
    }

    /// The data as 64-bit integers, or nil when the tensor is not I64.
    public var ints: [Int64]? {
        if case .i64(let v) = data { return v }
        return nil
    }

    /// The number of elements held in `data`.
    public var count: Int { data.count }
}

/// A failure to read, decode, encode or write a safetensors file. The message
/// always starts with the file (path or source label) and names the exact
/// problem, so it can be shown to a user as-is.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The full human-readable message, `"<source>: <problem>"`.
    public let message: String

    /// Creates an error with a complete message.
    public init(message: String) { self.message = message }

    /// Creates an error `"<source>: <problem>"`.
    init(_ source: String, _ problem: String) { self.message = "\(source): \(problem)" }

    /// Same as `message`.
    public var description: String { message }
}

/// An in-memory safetensors file: metadata plus tensors in file order.
public struct SafeTensorsFile: Sendable {
    /// The `__metadata__` string map (empty when the file has none).
    public var metadata: [String: String]
    /// The tensors, in file (data offset) order; written in this order.
    public var tensors: [NamedTensor]
    /// A label for error messages: the path this was read from, or a name
    /// given by the caller. `write(path:)` errors use the path instead.
    public var source: String

    /// The largest header accepted when decoding. Real headers are a few KB;
    /// the cap stops a corrupt length from triggering a huge JSON parse.
    public static let maxHeaderLength = 100_000_000

    /// Creates a file from metadata and tensors. `source` only labels errors.
    public init(metadata: [String: String] = [:], tensors: [NamedTensor] = [],
                source: String = "<in-memory safetensors>") {
        self.metadata = metadata
        self.tensors = tensors
        self.source = source
    }

    /// The first tensor with this name, or nil.
    public subscript(name: String) -> NamedTensor? {
        tensors.first { $0.name == name }
    }

    /// Appends (or replaces, keeping its position) an F32 tensor.
    /// Throws when `shape`'s element count does not match `floats.count`
    /// or a dimension is negative.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) throws {
        try put(NamedTensor(name: name, shape: shape, data: .f32(floats)))
    }

    /// Appends (or replaces, keeping its position) an I64 tensor.
    /// Throws when `shape`'s element count does not match `ints.count`
    /// or a dimension is negative.
    public mutating func add(_ name: String, shape: [Int], ints: [Int64]) throws {
        try put(NamedTensor(name: name, shape: shape, data: .i64(ints)))
    }

    private mutating func put(_ t: NamedTensor) throws {
        try Self.checkCount(t, source: source)
        // Replace rather than duplicate: a file cannot hold two equal keys.
        if let i = tensors.firstIndex(where: { $0.name == t.name }) {
            tensors[i] = t
        } else {
            tensors.append(t)
        }
    }

    // MARK: - Fetch helpers

    /// The F32 data of tensor `name`, checked to have exactly `shape`.
    /// Throws a `SafeTensorsError` naming the file and the problem when the
    /// tensor is missing, has another dtype, or another shape.
    public func requireFloats(_ name: String, shape: [Int]) throws -> [Float] {
        let t = try require(name, shape: shape, dtype: "F32")
        guard case .f32(let v) = t.data else {
            throw SafeTensorsError(source, "tensor '\(name)' is \(t.data.dtype) but F32 was expected")
        }
        return v
    }

    /// The I64 data of tensor `name`, checked to have exactly `shape`.
    /// Throws a `SafeTensorsError` naming the file and the problem when the
    /// tensor is missing, has another dtype, or another shape.
    public func requireInts(_ name: String, shape: [Int]) throws -> [Int64] {
        let t = try require(name, shape: shape, dtype: "I64")
        guard case .i64(let v) = t.data else {
            throw SafeTensorsError(source, "tensor '\(name)' is \(t.data.dtype) but I64 was expected")
        }
        return v
    }

    private func require(_ name: String, shape: [Int], dtype: String) throws -> NamedTensor {
        guard let t = self[name] else {
            throw SafeTensorsError(source, "missing tensor '\(name)'")
        }
        // Dtype first: a wrong dtype usually means the wrong tensor entirely.
        guard t.data.dtype == dtype else {
            throw SafeTensorsError(source, "tensor '\(name)' is \(t.data.dtype) but \(dtype) was expected")
        }
        guard t.shape == shape else {
            throw SafeTensorsError(source, "tensor '\(name)' has shape \(fmtShape(t.shape)) but \(fmtShape(shape)) was expected")
        }
        return t
    }

    // MARK: - Reading

    /// Reads and decodes the file at `path`. Errors are labelled with `path`.
    public static func read(path: String) throws -> SafeTensorsFile {
        let bytes = try readAll(path: path)
        return try decode(bytes, source: path)
    }

    /// Decodes a complete safetensors file image. `source` labels errors and
    /// becomes the result's `source`.
    public static func decode(_ bytes: [UInt8], source: String) throws -> SafeTensorsFile {
        let fileSize = bytes.count
        guard fileSize >= 8 else {
            throw SafeTensorsError(source, "file is \(fileSize) bytes, too short for the 8-byte header length")
        }
        var n64: UInt64 = 0
        for i in 0..<8 { n64 |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        // Compare in UInt64 first so a huge value cannot overflow Int.
        guard n64 <= UInt64(fileSize - 8) else {
            throw SafeTensorsError(source, "header length \(n64) runs past the end of the file (file is \(fileSize) bytes)")
        }
        guard n64 <= UInt64(maxHeaderLength) else {
            throw SafeTensorsError(source, "header length \(n64) exceeds the \(maxHeaderLength)-byte limit")
        }
        let headerLength = Int(n64)
        let dataStart = 8 + headerLength
        let dataSize = fileSize - dataStart

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]), options: [])
        } catch {
            throw SafeTensorsError(source, "header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw SafeTensorsError(source, "header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let dict = raw as? [String: Any] else {
                throw SafeTensorsError(source, "__metadata__ is not a JSON object")
            }
            for (k, v) in dict {
                guard let s = v as? String else {
                    throw SafeTensorsError(source, "__metadata__ value for '\(k)' is not a string")
                }
                metadata[k] = s
            }
        }

        // First pass: validate every entry, without copying data.
        struct Entry { let name: String; let dtype: String; let shape: [Int]; let begin: Int; let end: Int; let count: Int }
        var entries: [Entry] = []
        entries.reserveCapacity(header.count)
        for (name, raw) in header where name != "__metadata__" {
            let what = "tensor '\(name)'"
            guard let info = raw as? [String: Any] else {
                throw SafeTensorsError(source, "\(what) entry is not a JSON object")
            }
            guard let dtype = info["dtype"] as? String else {
                throw SafeTensorsError(source, "\(what) has no string dtype")
            }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "I64": elementSize = 8
            default:
                throw SafeTensorsError(source, "\(what) has dtype \(dtype); only F32 and I64 are supported")
            }
            guard let shapeRaw = info["shape"] as? [Any] else {
                throw SafeTensorsError(source, "\(what) has no shape array")
            }
            var shape: [Int] = []
            shape.reserveCapacity(shapeRaw.count)
            for v in shapeRaw {
                guard let d = jsonInt(v), d >= 0 else {
                    throw SafeTensorsError(source, "\(what) shape entry \(describeJSON(v)) is not a non-negative integer")
                }
                shape.append(d)
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2 else {
                throw SafeTensorsError(source, "\(what) has no data_offsets array of two integers")
            }
            guard let begin = jsonInt(offs[0]), let end = jsonInt(offs[1]), begin >= 0, end >= 0 else {
                throw SafeTensorsError(source, "\(what) data_offsets \(describeJSON(offs)) are not non-negative integers")
            }
            guard begin <= end else {
                throw SafeTensorsError(source, "\(what) data_offsets [\(begin), \(end)] have begin after end")
            }
            guard end <= dataSize else {
                throw SafeTensorsError(source, "\(what) data_offsets end \(end) past the data section (\(dataSize) bytes)")
            }
            guard let count = elementCount(shape),
                  case let (needed, overflow) = count.multipliedReportingOverflow(by: elementSize), !overflow else {
                throw SafeTensorsError(source, "\(what) shape \(fmtShape(shape)) is too large")
            }
            guard end - begin == needed else {
                throw SafeTensorsError(source, "\(what) data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(fmtShape(shape)) of \(dtype) needs \(needed)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end, count: count))
        }

        // File order is data order (JSON objects are unordered). Then the
        // ranges must tile the data section exactly: no overlap, no gap, no
        // trailing bytes — the same rule the reference implementation enforces.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        var previous = ""
        for e in entries {
            if e.begin < cursor {
                throw SafeTensorsError(source, "tensor '\(e.name)' data_offsets [\(e.begin), \(e.end)] overlap tensor '\(previous)'")
            }
            if e.begin > cursor {
                throw SafeTensorsError(source, "tensor '\(e.name)' data_offsets [\(e.begin), \(e.end)] leave a gap of \(e.begin - cursor) bytes before them")
            }
            cursor = e.end
            previous = e.name
        }
        guard cursor == dataSize else {
            throw SafeTensorsError(source, "data section has \(dataSize - cursor) trailing bytes not covered by any tensor")
        }

        // Second pass: copy the data. memcpy, because the bytes need not be
        // aligned for Float/Int64 loads.
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(entries.count)
        bytes.withUnsafeBytes { raw in
            for e in entries {
                let src = UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.begin)..<(dataStart + e.end)])
                let data: TensorData
                if e.dtype == "F32" {
                    data = .f32(copyElements(src, count: e.count, as: Float.self))
                } else {
                    data = .i64(copyElements(src, count: e.count, as: Int64.self))
                }
                tensors.append(NamedTensor(name: e.name, shape: e.shape, data: data))
            }
        }
        return SafeTensorsFile(metadata: metadata, tensors: tensors, source: source)
    }

    // MARK: - Writing

    /// Encodes the file image: header length, space-padded JSON header (so the
    /// data section starts 8-byte aligned), then each tensor's bytes in
    /// `tensors` order. Throws when a tensor's shape disagrees with its
    /// element count, a dimension is negative, a name repeats, or a tensor is
    /// named `__metadata__`.
    public func encode() throws -> [UInt8] {
        var seen = Set<String>()
        var offsets: [(Int, Int)] = []
        offsets.reserveCapacity(tensors.count)
        var cursor = 0
        for t in tensors {
            guard t.name != "__metadata__" else {
                throw SafeTensorsError(source, "a tensor cannot be named '__metadata__'")
            }
            guard seen.insert(t.name).inserted else {
                throw SafeTensorsError(source, "tensor '\(t.name)' appears more than once")
            }
            try Self.checkCount(t, source: source)
            let nbytes = t.count * t.data.elementSize
            offsets.append((cursor, cursor + nbytes))
            cursor += nbytes
        }
        let dataSize = cursor

        // Built by hand (not JSONSerialization) so keys keep tensor order and
        // the output is deterministic.
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        for (t, (b, e)) in zip(tensors, offsets) {
            if !first { json += "," }
            first = false
            json += "\(jsonString(t.name)):{\"dtype\":\"\(t.data.dtype)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(b),\(e)]}"
        }
        json += "}"
        var header = Array(json.utf8)
        let padded = (header.count + 7) / 8 * 8
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padded - header.count))

        let total = 8 + header.count + dataSize
        return [UInt8](unsafeUninitializedCapacity: total) { buf, initialized in
            guard let base = buf.baseAddress else { initialized = 0; return }
            var n = UInt64(header.count)
            for i in 0..<8 { base[i] = UInt8(truncatingIfNeeded: n); n >>= 8 }
            header.withUnsafeBufferPointer { h in
                if let hb = h.baseAddress { memcpy(base + 8, hb, h.count) }
            }
            let dataBase = base + 8 + header.count
            for (t, (b, e)) in zip(tensors, offsets) where e > b {
                switch t.data {
                case .f32(let v): v.withUnsafeBytes { src in if let s = src.baseAddress { memcpy(dataBase + b, s, e - b) } }
                case .i64(let v): v.withUnsafeBytes { src in if let s = src.baseAddress { memcpy(dataBase + b, s, e - b) } }
                }
            }
            initialized = total
        }
    }

    /// Encodes and writes the file atomically: the bytes go to
    /// `"<path>.tmp-<pid>"`, which is fsynced and renamed over `path`, and
    /// then the directory is fsynced so the rename itself is durable. A crash
    /// at any point leaves either the old file or the new one, never a torn
    /// mix. Errors are labelled with `path`; the temp file is removed on
    /// failure.
    public func write(path: String) throws {
        var copy = self
        copy.source = path
        let bytes = try copy.encode()
        let tmp = "\(path).tmp-\(getpid())"

        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SafeTensorsError(path, "cannot create temporary file \(tmp): \(errnoString())")
        }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { _ = close(fd) }
            try bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    guard let base = raw.baseAddress else { break }
                    let w = posixWrite(fd, base + done, raw.count - done)
                    if w < 0 {
                        if errno == EINTR { continue }
                        throw SafeTensorsError(path, "cannot write temporary file \(tmp): \(errnoString())")
                    }
                    done += w
                }
            }
            guard fsync(fd) == 0 else {
                throw SafeTensorsError(path, "cannot fsync temporary file \(tmp): \(errnoString())")
            }
        }
        guard rename(tmp, path) == 0 else {
            throw SafeTensorsError(path, "cannot rename \(tmp) over it: \(errnoString())")
        }
        ok = true

        // Make the rename durable. Some filesystems cannot fsync a directory
        // (EINVAL/ENOTSUP); the data itself is already safe there.
        var dir = (path as NSString).deletingLastPathComponent
        if dir.isEmpty { dir = "." }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else {
            throw SafeTensorsError(path, "cannot open directory \(dir) to fsync: \(errnoString())")
        }
        defer { _ = close(dfd) }
        if fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP {
            throw SafeTensorsError(path, "cannot fsync directory \(dir): \(errnoString())")
        }
    }

    // MARK: - Helpers

    /// Throws unless the tensor's dimensions are non-negative and multiply out
    /// to its element count.
    static func checkCount(_ t: NamedTensor, source: String) throws {
        if let d = t.shape.first(where: { $0 < 0 }) {
            throw SafeTensorsError(source, "tensor '\(t.name)' shape \(fmtShape(t.shape)) has negative dimension \(d)")
        }
        guard let n = elementCount(t.shape) else {
            throw SafeTensorsError(source, "tensor '\(t.name)' shape \(fmtShape(t.shape)) is too large")
        }
        guard n == t.count else {
            throw SafeTensorsError(source, "tensor '\(t.name)' has \(t.count) \(t.data.dtype) values but shape \(fmtShape(t.shape)) needs \(n)")
        }
    }

    /// Reads a whole file with POSIX calls so failures carry strerror text.
    static func readAll(path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafeTensorsError(path, "file cannot be read: \(errnoString())")
        }
        defer { _ = close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SafeTensorsError(path, "file cannot be read: \(errnoString())")
        }
        // A device or pipe has no size to trust and may never end (/dev/zero): refuse it.
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            let kind = (st.st_mode & S_IFMT) == S_IFDIR ? "a folder" : (st.st_mode & S_IFMT) == S_IFCHR ? "a character device"
                : (st.st_mode & S_IFMT) == S_IFIFO ? "a pipe" : "not a regular file"
            throw SafeTensorsError(path, "is \(kind), not a regular file: give the path of a .safetensors file")
        }
        // Read straight into uninitialized storage sized by fstat: no zero
        // fill and no element-wise appends, so 100 MB costs one memcpy-speed read.
        let size = max(Int(st.st_size), 0)
        // A file larger than the memory available cannot be read whole; say so instead of
        // letting the allocation fail.
        let budget = ReadLimits.memoryBudget()
        guard size <= budget else {
            throw SafeTensorsError(path, "file is \(ReadLimits.describe(size)), more than the \(ReadLimits.describe(budget)) of memory available")
        }
        var bytes = try [UInt8](unsafeUninitializedCapacity: size) { buf, filled in
            filled = 0
            guard let base = buf.baseAddress else { return }
            while filled < size {
                let r = posixRead(fd, base + filled, size - filled)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw SafeTensorsError(path, "file cannot be read: \(errnoString())")
                }
                if r == 0 { break }   // shrank since fstat; decode reports truncation
                filled += r
            }
        }
        // The size was only a hint: pick up anything appended since fstat.
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let r = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return posixRead(fd, base, raw.count)
            }
            if r < 0 {
                if errno == EINTR { continue }
                throw SafeTensorsError(path, "file cannot be read: \(errnoString())")
            }
            if r == 0 { break }
            guard bytes.count + r <= budget else {
                throw SafeTensorsError(path, "file grew past the \(ReadLimits.describe(budget)) of memory available while it was read")
            }
            bytes.append(contentsOf: chunk[0..<r])
        }
        return bytes
    }
}

// MARK: - File-private helpers

/// Product of dimensions, or nil on overflow. `[]` (a scalar) gives 1.
private func elementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        let (m, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = m
    }
    return n
}

/// Copies `count` elements out of possibly unaligned bytes.
private func copyElements<T>(_ src: UnsafeRawBufferPointer, count: Int, as: T.Type) -> [T] {
    guard count > 0, let s = src.baseAddress else { return [] }
    return [T](unsafeUninitializedCapacity: count) { buf, n in
        if let d = buf.baseAddress {
            memcpy(d, s, count * MemoryLayout<T>.stride)
            n = count
        } else {
            n = 0
        }
    }
}

/// A JSON number that is exactly an Int (not a bool, not fractional).
private func jsonInt(_ v: Any) -> Int? {
    guard let n = v as? NSNumber else { return nil }
    // JSONSerialization yields booleans as NSNumber too; their type is "c".
    let t = String(cString: n.objCType)
    if t == "c" || t == "B" { return nil }
    return v as? Int
}

/// A short rendering of a JSON value for error messages.
private func describeJSON(_ v: Any) -> String {
    if let a = v as? [Any] { return "[" + a.map(describeJSON).joined(separator: ", ") + "]" }
    if v is NSNull { return "null" }
    if let s = v as? String { return jsonString(s) }
    if let n = v as? NSNumber {
        let t = String(cString: n.objCType)
        if t == "c" || t == "B" { return n.boolValue ? "true" : "false" }
        return n.stringValue
    }
    return "\(v)"
}

/// `[2, 2]` style shape text for messages; `[]` for scalars.
private func fmtShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

/// A JSON string literal with the mandatory escapes.
private func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

// Free functions so the POSIX names are not shadowed by the
// `read(path:)` / `write(path:)` members.
private func posixWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ n: Int) -> Int { write(fd, buf, n) }
private func posixRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int { read(fd, buf, n) }

private func errnoString() -> String {
    String(cString: strerror(errno))
}
