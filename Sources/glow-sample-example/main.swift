// glow-sample-example: the smallest program using the GlowGPU library's public API.
// It loads a checkpoint, draws 16 images at temperature 0.7 and writes them as a 4×4 PNG grid.
//
//   glow-sample-example CHECKPOINT [OUT.png] [DEVICE]
import Foundation
import GlowGPU

let args = CommandLine.arguments
guard args.count >= 2, args.count <= 4, !args[1].hasPrefix("-") else {
    let name = (args.first.map { ($0 as NSString).lastPathComponent }) ?? "glow-sample-example"
    FileHandle.standardError.write(Data("""
    usage: \(name) CHECKPOINT [OUT.png] [DEVICE]
      Draws 16 images at temperature 0.7 from the glow-gpu checkpoint CHECKPOINT and writes a
      4×4 grid to OUT.png (default samples.png). DEVICE (default auto): \(BackendRegistry.deviceHelp)

    """.utf8))
    exit(2)
}
let checkpoint = args[1]
let out = args.count >= 3 ? args[2] : "samples.png"
let device = args.count >= 4 ? args[3] : BackendRegistry.auto

do {
    let model = try GlowModel(checkpoint: checkpoint, device: device)
    let images = try model.sample(count: 16, temperature: 0.7, seed: 0)
    try images.writePNGGrid(path: out, columns: 4)
    print("wrote 16 samples (\(images.channels)×\(images.height)×\(images.width), T = 0.7) from \(checkpoint) on \(model.deviceName) to \(out)")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
