// libFuzzer target: the checkpoint loader (safetensors file -> config -> model on the CPU backend).
import Foundation
@testable import GlowCore
import GlowCPU

let fuzzBackend = CPUBackend(threads: 1)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = fuzzWrite(data, size, name: "model.safetensors")
    do {
        _ = try Checkpoint.load(path, backend: fuzzBackend)
    } catch is GlowError {
    } catch { fatalError("unexpected error type: \(error)") }
    return 0
}
