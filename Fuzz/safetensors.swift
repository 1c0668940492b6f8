// libFuzzer target: the safetensors decoder. Any bytes must give a file or a SafeTensorsError.
import Foundation
@testable import GlowCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    do {
        let f = try SafeTensorsFile.decode(fuzzBytes(data, size), source: "fuzz.safetensors")
        // What decodes must re-encode, and decode again to the same bytes (compared as
        // bytes: NaN payloads are legal and compare unequal as floats).
        let encoded = try f.encode()
        let again = try SafeTensorsFile.decode(encoded, source: "re-encoded")
        if try again.encode() != encoded || again.metadata != f.metadata { fatalError("round trip changed the file") }
    } catch is SafeTensorsError {
    } catch { fatalError("unexpected error type: \(error)") }
    return 0
}
