// libFuzzer target: the CIFAR-10 batch reader (the input is the test batch file).
import Foundation
@testable import GlowCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR10(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    _ = fuzzWrite(data, size, name: "test_batch.bin")
    do {
        let set = try CIFAR10Reader.load(directory: fuzzScratch, split: "test")
        if set.count * 3 * 32 * 32 != set.pixels.count { fatalError("pixel count disagrees with the image count") }
    } catch is DataError {
    } catch { fatalError("unexpected error type: \(error)") }
    return 0
}
