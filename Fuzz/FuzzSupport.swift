// Shared by every fuzz harness: the parsers under test read paths, so each input is
// written to a file in a per-process scratch folder first.
import Foundation

/// This process's scratch folder (made once).
let fuzzScratch: String = {
    let dir = NSTemporaryDirectory() + "glow-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

/// Writes `bytes` to `name` inside the scratch folder and returns the path.
func fuzzWrite(_ bytes: UnsafePointer<UInt8>?, _ size: Int, name: String) -> String {
    let path = fuzzScratch + "/" + name
    let data = size > 0 && bytes != nil ? Data(bytes: bytes!, count: size) : Data()
    FileManager.default.createFile(atPath: path, contents: data)
    return path
}

/// The input as an array.
func fuzzBytes(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard size > 0, let bytes else { return [] }
    return Array(UnsafeBufferPointer(start: bytes, count: size))
}
