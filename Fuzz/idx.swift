// libFuzzer target: the IDX images and labels readers (raw or gzip, zlib decides).
import Foundation
@testable import GlowCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = fuzzWrite(data, size, name: "images-idx3-ubyte")
    for read in [{ _ = try IDXReader.images(path: path) }, { _ = try IDXReader.labels(path: path) }] {
        do { try read() } catch is DataError {
        } catch { fatalError("unexpected error type: \(error)") }
    }
    return 0
}
