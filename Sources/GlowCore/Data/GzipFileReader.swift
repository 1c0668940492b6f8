import Foundation
import CZlib

/// Reads whole files into memory through zlib, which decompresses gzip files and
/// passes other files through unchanged.
enum GzipFileReader {
    /// Size of each `gzread` call.
    static let chunkSize = 1 << 22

    /// The (decompressed) contents of the file at `path`.
    /// - Throws: `DataError` if the file is missing, unreadable or a truncated/corrupt gzip stream.
    static func read(path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(path: path, problem: "no such file")
        }
        if isDirectory.boolValue {
            throw DataError(path: path, problem: "is a directory, expected a file")
        }
        guard let file = gzopen(path, "rb") else {
            throw DataError(path: path, problem: "cannot open for reading (\(String(cString: strerror(errno))))")
        }
        defer { gzclose(file) }
        _ = gzbuffer(file, 1 << 20)

        var out = [UInt8]()
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int {
            out.reserveCapacity(size)
        }
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                throw DataError(path: path, problem: "read error: \(zlibMessage(file))")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0 ..< Int(n)])
        }
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code == Z_BUF_ERROR {
            throw DataError(path: path, problem: "gzip stream is truncated (file ends in the middle of it)")
        }
        if code != Z_OK {
            throw DataError(path: path, problem: "read error: \(zlibMessage(file))")
        }
        return out
    }

    /// zlib's message for the last error on `file`.
    private static func zlibMessage(_ file: gzFile) -> String {
        var code: Int32 = 0
        guard let message = gzerror(file, &code) else { return "zlib error \(code)" }
        return String(cString: message)
    }
}
