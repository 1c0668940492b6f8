// libFuzzer target: the PNG reader, as the file's own kind and converted to gray and RGB.
import Foundation
@testable import GlowCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = fuzzWrite(data, size, name: "image.png")
    for channels in [nil, 1, 3] as [Int?] {
        do {
            let image = try PNGImage.read(path: path, channels: channels)
            if image.pixels.count != image.width * image.height * image.channels { fatalError("pixel count disagrees with the size") }
        } catch is DataError {
        } catch { fatalError("unexpected error type: \(error)") }
    }
    return 0
}
