// libFuzzer target: the gzip file reader (whole-file inflate with a size limit).
import Foundation
@testable import GlowCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = fuzzWrite(data, size, name: "data.gz")
    do {
        let out = try GzipFileReader.read(path: path, limit: 1 << 20)
        if out.count > 1 << 20 { fatalError("limit exceeded: \(out.count) bytes") }
    } catch is DataError {
    } catch { fatalError("unexpected error type: \(error)") }
    return 0
}
