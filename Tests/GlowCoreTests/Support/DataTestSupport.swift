import Foundation
import XCTest
@testable import GlowCore

/// Helpers shared by the data tests: scratch folders, file builders and external tools.
public enum DataTestSupport {
    /// A new empty scratch folder under the temporary directory.
    public static func makeTempDirectory(_ tag: String = "data") throws -> String {
        let path = (NSTemporaryDirectory() as NSString)
            .appendingPathComponent("glow-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Removes a scratch folder made by `makeTempDirectory`.
    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `value` as 4 big-endian bytes.
    public static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// An IDX images file: magic, count, rows, columns, pixels.
    public static func idxImages(magic: UInt32 = 0x0000_0803, count: Int, height: Int, width: Int, pixels: [UInt8]) -> [UInt8] {
        be32(magic) + be32(UInt32(count)) + be32(UInt32(height)) + be32(UInt32(width)) + pixels
    }

    /// An IDX labels file: magic, count, labels.
    public static func idxLabels(magic: UInt32 = 0x0000_0801, labels: [UInt8]) -> [UInt8] {
        be32(magic) + be32(UInt32(labels.count)) + labels
    }

    /// Writes `bytes` to `path`.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Runs an executable; returns its standard output, or `nil` if it could not run or failed.
    public static func run(_ executable: String, _ arguments: [String]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs `script` with python3 and `arguments`; `nil` when python3 is unavailable or fails.
    public static func python(_ script: String, _ arguments: [String] = []) -> String? {
        run("/usr/bin/env", ["python3", "-c", script] + arguments)
    }

    /// gzip-compresses `path` into `path + ".gz"` with /usr/bin/gzip (or /bin/gzip), keeping
    /// the original; returns the new path, or `nil` when gzip is unavailable.
    public static func gzip(_ path: String) -> String? {
        for tool in ["/usr/bin/gzip", "/bin/gzip"] where FileManager.default.isExecutableFile(atPath: tool) {
            if run(tool, ["-k", "-n", "-f", path]) != nil { return path + ".gz" }
        }
        return nil
    }

    /// Asserts that `body` throws a `DataError` whose description contains every string in `phrases`.
    public static func assertDataError<T>(_ phrases: [String], file: StaticString = #filePath, line: UInt = #line,
                                   _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected a DataError containing \(phrases)", file: file, line: line)
        } catch let error as DataError {
            for phrase in phrases {
                XCTAssertTrue(error.description.contains(phrase),
                              "\"\(error.description)\" lacks \"\(phrase)\"", file: file, line: line)
            }
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
    }
}
