// Trains a tiny Glow from Swift the way `glow-gpu train` does, with the library's
// `TrainingRun`: MNIST (the copy in data/mnist) resampled to 8×8, test bpd on 1,000 test images,
// samples, checkpoints, metrics.jsonl and bpd.png in the output folder.
//   glow-train-example [OUT] [STEPS] [DEVICE]
import Foundation
import GlowGPU

let args = CommandLine.arguments
guard args.count <= 4, !(args.dropFirst().first?.hasPrefix("-") ?? false) else {
    let name = (args.first.map { ($0 as NSString).lastPathComponent }) ?? "glow-train-example"
    FileHandle.standardError.write(Data("""
    usage: \(name) [OUT] [STEPS] [DEVICE]
      Trains the tiny configuration on MNIST at 8×8 for STEPS steps (default 40) into the
      folder OUT (default runs/train-example). DEVICE (default auto): \(BackendRegistry.deviceHelp)

    """.utf8))
    exit(2)
}
let out = args.count >= 2 ? args[1] : "runs/train-example"
let steps = args.count >= 3 ? Int(args[2]) ?? 0 : 40
let device = args.count >= 4 ? args[3] : BackendRegistry.auto

/// Trains on `backend` (any backend: the generic parameter is opened from `any Backend`).
func train<B: Backend>(on backend: B) throws {
    func split(_ name: String) throws -> ImageSet {
        try DatasetLoader.prepare(try DatasetLoader.load(.mnist, directory: nil, split: name), imageSize: 8, pad: 0)
    }
    let trainSet = try split("train"), testSet = try split("test").subset(Array(0 ..< 1000))
    let config = try GlowConfig.named("tiny")
    try config.validate()
    let schedule = TrainingSchedule(totalSteps: steps, evalEvery: 20, evalImages: 200, sampleEvery: 0, saveEvery: 0)
    let run = try TrainingRun(backend: backend, config: config, optimizer: OptimizerConfig(), trainSet: trainSet,
                              testSet: testSet, schedule: schedule, directory: out)
    try run.initialize()
    let outcome = try run.run { event in
        if case let .evaluated(step, bpd, images, _) = event {
            print(String(format: "step %d: test bpd %.3f on %d images", step, bpd, images))
        }
    }
    print("trained \(outcome.step) steps on \(backend.name) in \(String(format: "%.1f", outcome.minutes * 60)) s; wrote \(out)")
}

do {
    guard steps >= 1 else { throw GlowError("STEPS \(args[2]): expected a whole number of steps, at least 1") }
    try train(on: try DeviceSelector.open(device))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
