// libFuzzer target: the latent file reader (Sources/GlowCore/Files/Latents.swift, in libGlowCore),
// for the latent shapes of a 1×8×8, L = 2 model.
import Foundation
@testable import GlowCore

let fuzzShapes = [LatentShape(channels: 2, height: 4, width: 4), LatentShape(channels: 8, height: 2, width: 2)]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLatents(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = fuzzWrite(data, size, name: "latents.safetensors")
    do {
        let (latents, _) = try LatentFile.read(path: path, shapes: fuzzShapes)
        for (l, s) in zip(latents.levels, latents.shapes) where l.count != latents.count * s.count {
            fatalError("level size disagrees with the shapes")
        }
    } catch is GlowError {
    } catch { fatalError("unexpected error type: \(error)") }
    return 0
}
