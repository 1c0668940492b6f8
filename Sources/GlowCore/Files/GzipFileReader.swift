import Foundation
import CZlib

/// Reads a file through zlib, which decompresses gzip files and passes other files through
/// unchanged, with the decompressed size bounded before anything is allocated: by the
/// caller's limit, by what the file can possibly inflate to (its length, times 1032 for
/// gzip), by the size its gzip trailer declares, and by the memory available.
final class GzipFileReader {
    /// The file, for error messages.
    let path: String
    /// The file's length on disk.
    let fileSize: Int
    /// Whether the file starts with the gzip magic bytes (otherwise zlib copies it as is).
    let isGzip: Bool
    /// The largest number of bytes the file can yield: its length, or 1032 × that for gzip.
    let maxContentSize: Int
    /// The uncompressed length (mod 2³²) in the gzip trailer; `nil` for a file that is not gzip.
    let declaredSize: Int?
    /// Bytes delivered so far.
    private(set) var delivered = 0
    /// The memory available when the file was opened; no read may take more.
    let memoryBudget = ReadLimits.memoryBudget()
    private let file: gzFile
    /// Size of each `gzread` call.
    private static let chunkSize = 1 << 18

    /// Opens `path`.
    /// - Throws: `DataError` when the file is missing, a directory or unreadable.
    init(path: String) throws {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw DataError(path: path, problem: errno == ENOENT ? "no such file" : "cannot open for reading (\(String(cString: strerror(errno))))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw DataError(path: path, problem: "is a directory, expected a file")
        }
        fileSize = Int(st.st_size)
        // The gzip header and trailer, read directly: the magic decides how the length
        // bounds the content, and the trailer's ISIZE gives an early refusal.
        var head = [UInt8](repeating: 0, count: 2), tail = [UInt8](repeating: 0, count: 4)
        if let f = fopen(path, "rb") {
            if fread(&head, 1, 2, f) != 2 { head = [0, 0] }
            if fileSize >= 18, fseeko(f, off_t(fileSize - 4), SEEK_SET) == 0, fread(&tail, 1, 4, f) == 4 {} else { tail = [] }
            fclose(f)
        }
        isGzip = head == [0x1F, 0x8B]
        maxContentSize = isGzip ? (Sizes.product(fileSize, ReadLimits.maxDeflateRatio) ?? Int.max) : fileSize
        declaredSize = isGzip && tail.count == 4
            ? Int(tail[0]) | Int(tail[1]) << 8 | Int(tail[2]) << 16 | Int(tail[3]) << 24 : nil
        guard let file = gzopen(path, "rb") else {
            throw DataError(path: path, problem: "cannot open for reading (\(String(cString: strerror(errno))))")
        }
        self.file = file
        // zlib's buffers (input, and twice that for output) sized to the file: a small file
        // needs no megabytes.
        _ = gzbuffer(file, UInt32(min(1 << 20, max(fileSize, 1 << 13))))
    }

    deinit { gzclose(file) }

    /// The next `count` bytes, or fewer at the end of the file.
    /// - Throws: `DataError` for a corrupt or truncated gzip stream, or when the bytes read
    ///   pass the memory available.
    func read(upTo count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        let budget = memoryBudget
        // Reserve only what the file can hold (exact for a plain file; for gzip at most
        // 64 MB up front, since its bound is 1032 × its length), never what a header claims.
        let room = max(maxContentSize - delivered, 0)
        var out = [UInt8]()
        out.reserveCapacity(min(count, isGzip ? min(room, 1 << 26) : room))
        var chunk = [UInt8](repeating: 0, count: min(Self.chunkSize, count, max(room, 1)))
        while out.count < count {
            let ask = min(chunk.count, count - out.count)
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(ask)) }
            if n < 0 { throw DataError(path: path, problem: "read error: \(zlibMessage())") }
            if n == 0 { try checkEnd(); break }
            guard out.count + Int(n) <= budget else {
                throw DataError(path: path, problem: "content passes the \(ReadLimits.describe(budget)) of memory available")
            }
            out.append(contentsOf: chunk[0 ..< Int(n)])
        }
        delivered += out.count
        return out
    }

    /// Everything up to the end of the file, refused as soon as it passes `limit` bytes.
    /// `what` says where the limit comes from, for the message.
    /// - Throws: `DataError` when the content is (or declares itself) larger than `limit`,
    ///   or for a corrupt or truncated gzip stream.
    func readToEnd(limit: Int, what: String) throws -> [UInt8] {
        // A stream's true size is at least its trailer's ISIZE (it is the size mod 2³²), so
        // a declared size over the limit is refused without inflating anything.
        if let declared = declaredSize, declared > limit {
            throw DataError(path: path, problem: "gzip stream declares \(ReadLimits.describe(declared)) of data, "
                + "more than the \(ReadLimits.describe(limit)) limit (\(what))")
        }
        if !isGzip && fileSize - delivered > limit {
            throw DataError(path: path, problem: "is \(ReadLimits.describe(fileSize)), more than the "
                + "\(ReadLimits.describe(limit)) limit (\(what))")
        }
        let (bound, overflow) = limit.addingReportingOverflow(1)
        let out = try read(upTo: overflow ? Int.max : bound)
        guard out.count <= limit else {
            throw DataError(path: path, problem: "\(isGzip ? "decompresses" : "is") to more than "
                + "\(ReadLimits.describe(limit)), the limit (\(what))")
        }
        return out
    }

    /// The whole (decompressed) content of `path`, at most `limit` bytes (default: the memory available).
    static func read(path: String, limit: Int? = nil) throws -> [UInt8] {
        let reader = try GzipFileReader(path: path)
        let budget = reader.memoryBudget
        if let limit, limit <= budget { return try reader.readToEnd(limit: limit, what: "for this kind of file") }
        return try reader.readToEnd(limit: budget, what: "the memory available")
    }

    /// Throws when the stream ended in error (truncated, bad CRC, bad data).
    private func checkEnd() throws {
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code == Z_BUF_ERROR {
            throw DataError(path: path, problem: "gzip stream is truncated (file ends in the middle of it)")
        }
        if code != Z_OK {
            throw DataError(path: path, problem: "read error: \(zlibMessage())")
        }
    }

    /// zlib's message for the last error.
    private func zlibMessage() -> String {
        var code: Int32 = 0
        guard let message = gzerror(file, &code) else { return "zlib error \(code)" }
        return String(cString: message)
    }
}
