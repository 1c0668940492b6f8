// Shared by every fuzz harness: the parsers under test read paths, so each input is
// written to a file in a per-process scratch folder first.
import Foundation

/// This process's scratch folder (made once).
let fuzzScratch: String = {
    // Memory-backed when possible: a file written per input must not wait on a disk.
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
    let dir = base + "glow-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: fuzzScratch) }
    return dir
}()

/// Writes `bytes` to `name` inside the scratch folder and returns the path.
func fuzzWrite(_ bytes: UnsafePointer<UInt8>?, _ size: Int, name: String) -> String {
    let path = fuzzScratch + "/" + name
    // Plain POSIX calls: FileManager's atomic write syncs, which makes each run ~10 ms.
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { fatalError("cannot write \(path)") }
    var done = 0
    while done < size, let bytes {
        let n = write(fd, bytes + done, size - done)
        if n <= 0 { fatalError("cannot write \(path)") }
        done += n
    }
    close(fd)
    return path
}

/// The input as an array.
func fuzzBytes(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard size > 0, let bytes else { return [] }
    return Array(UnsafeBufferPointer(start: bytes, count: size))
}
