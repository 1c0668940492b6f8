// libFuzzer target: glow-gpu serve's request parsers and upload decoder (compiled with
// Sources/GlowServe/ServeRequests.swift). The input is each route's JSON body, a raw
// `image/png` body and an upload's PNG bytes; every refusal must be a RequestError with a
// 4xx/5xx status and a message, and whatever is accepted must lie within the limits.
import Foundation
@testable import GlowCore

let fuzzLimits: ServeLimits = {
    var l = ServeLimits()
    l.maxUploadPixels = 1 << 20   // the fuzzer's memory limit, not the server's
    return l
}()

func refusal(_ body: () throws -> Void) {
    do { try body() } catch let e as RequestError {
        if !(400 ..< 600).contains(e.status) || e.message.isEmpty { fatalError("bad refusal \(e)") }
    } catch { fatalError("unexpected error type: \(error)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServe(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzBytes(data, size)
    let l = fuzzLimits
    refusal {
        let r = try SampleRequest.parse(bytes, limits: l)
        if !l.temperature.contains(Double(r.temperature)) || !(1 ... l.maxSampleCount).contains(r.count) || r.seed > l.maxSeed {
            fatalError("sample request outside the limits: \(r)")
        }
    }
    refusal {
        let r = try InterpolateRequest.parse(bytes, limits: l)
        if !(2 ... l.maxSteps).contains(r.steps) { fatalError("steps \(r.steps) outside the limits") }
        for case .upload(let png) in [r.from, r.to] { _ = try decodeUpload(png, channels: 1, limits: l, field: "from") }
    }
    refusal {
        let r = try ManipulateRequest.parse(bytes, limits: l)
        for a in r.alphas.values where !l.alpha.contains(Double(a)) { fatalError("alpha \(a) outside the limits") }
    }
    refusal {
        let r = try EncodeRequest.parse(bytes, contentType: nil, limits: l)
        _ = try decodeUpload(r.png, channels: 3, limits: l, field: "png")
    }
    for channels in [1, 3] {
        refusal {
            let image = try decodeUpload(bytes, channels: channels, limits: l, field: "png")
            if image.count != 1 || image.channels != channels || image.width * image.height > l.maxUploadPixels {
                fatalError("decoded upload disagrees with the limits")
            }
        }
    }
    return 0
}
