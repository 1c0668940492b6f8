import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu train`: the main job.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train",
        abstract: "Train Glow on an image set, with a progress bar, checkpoints, metrics, sample grids and a bpd plot.")

    @Option(help: "tiny, mnist or paper (docs/glow-spec.md's reference configurations).")
    var config: String = "mnist"
    @Option(name: .customLong("K"), help: "Steps of flow per level (overrides the configuration).") var k: Int?
    @Option(name: .customLong("L"), help: "Levels (overrides the configuration).") var l: Int?
    @Option(help: "Coupling network width.") var hidden: Int?
    @Option(help: "Images per step.") var batch: Int?
    @Option(help: "affine or additive.") var coupling: String?
    @Option(help: "invconv, reverse or shuffle.") var permutation: String?
    @Flag(inversion: .prefixedNo, help: "LU-decomposed 1×1 convolutions.") var lu: Bool?
    @Flag(name: .customLong("learn-top"), inversion: .prefixedNo, help: "Learned top prior.") var learnTop: Bool?
    @Flag(help: "Class-conditional model (prior conditioned on the data set's labels, plus a classifier head).") var conditional = false
    @Option(name: .customLong("n-bits"), help: "Bits per pixel channel (1…8).") var nBits: Int?

    @Option(help: "mnist, fashion-mnist, cifar10 or folder.") var dataset: String = "mnist"
    @Option(help: "The dataset's folder (default: the embedded data/mnist; /usr/share/datasets/fashion-mnist).") var data: String?
    @Option(name: .customLong("image-size"), help: "Resample images to N×N.") var imageSize: Int?
    @Option(help: "Zero pixels added on each side (MNIST --pad 2 gives 32×32).") var pad: Int = 0

    @Option(help: "adam or adamax.") var optimizer: String = "adamax"
    @Option(help: "Peak learning rate.") var lr: Double = 1e-3
    @Option(help: "Steps of linear learning-rate warm-up.") var warmup: Int = 200
    @Option(help: "Clip the global gradient norm to this value.") var clip: Double?
    @Option(help: "EMA decay of the weights for evaluation and sampling (e.g. 0.999).") var ema: Double?

    @Option(help: "Total steps to reach (also when resuming).") var steps: Int?
    @Option(help: "Total epochs to reach (instead of --steps).") var epochs: Int?
    @Option(help: "Stop after this many minutes of training (saving first).") var minutes: Double?
    @Option(help: "cpu, auto, opencl, opencl:N or part of a device name.") var device: String = "auto"
    @Option(help: "store (keep activations) or reversible (recompute them through the inverse).") var memory: String = "store"
    @Option(help: "Seed of initialisation, data order and noise.") var seed: UInt64 = 1
    @Option(help: "Output folder.") var out: String = "runs/glow"
    @Flag(help: "Continue from the checkpoint and training state in --out.") var resume = false
    @Option(name: .customLong("eval-every"), help: "Evaluate test bpd every N steps (0: only at the end).") var evalEvery: Int = 500
    @Option(name: .customLong("eval-images"), help: "Test images per periodic evaluation (the final one uses all).") var evalImages: Int = 1000
    @Option(name: .customLong("sample-every"), help: "Write a sample grid every N steps (0: only at the end).") var sampleEvery: Int = 500
    @Option(name: .customLong("save-every"), help: "Save checkpoint and state every N steps.") var saveEvery: Int = 500

    func run() throws {
        // GlowError and DataError print as "Error: <message>" (a runtime failure, not a usage error).
        try execute()
    }

    func modelConfig() throws -> GlowConfig {
        var c = try GlowConfig.named(config)
        if let k { c.K = k }
        if let l { c.L = l }
        if let hidden { c.hidden = hidden }
        if let batch { c.batch = batch }
        if let coupling {
            guard let v = GlowConfig.Coupling(rawValue: coupling) else { throw GlowError("--coupling \(coupling): expected affine or additive") }
            c.coupling = v
        }
        if let permutation {
            guard let v = GlowConfig.Permutation(rawValue: permutation) else {
                throw GlowError("--permutation \(permutation): expected invconv, reverse or shuffle")
            }
            c.permutation = v
        }
        if let lu { c.lu = lu }
        if let learnTop { c.learnTop = learnTop }
        if let nBits { c.nBits = nBits }
        return c
    }

    func execute() throws {
        var cfg = try modelConfig()
        guard let memoryMode = MemoryMode(rawValue: memory) else { throw GlowError("--memory \(memory): expected store or reversible") }
        var opt = OptimizerConfig()
        guard let kind = OptimizerConfig.Kind(rawValue: optimizer) else { throw GlowError("--optimizer \(optimizer): expected adam or adamax") }
        opt.kind = kind; opt.learningRate = lr; opt.warmup = warmup; opt.clip = clip; opt.ema = ema
        try opt.validate()
        if steps != nil && epochs != nil { throw GlowError("give --steps or --epochs, not both") }

        let kindOfData = try DatasetLoader.Kind.named(dataset)
        let rawTrain = try DatasetLoader.load(kindOfData, directory: data, split: "train", channels: cfg.channels)
        let trainSet = try DatasetLoader.prepare(rawTrain, imageSize: imageSize, pad: pad)
        let test = try? DatasetLoader.prepare(try DatasetLoader.load(kindOfData, directory: data, split: "test", channels: cfg.channels),
                                              imageSize: imageSize, pad: pad)
        cfg.channels = trainSet.channels; cfg.height = trainSet.height; cfg.width = trainSet.width; cfg.pad = pad
        if conditional {
            guard trainSet.labels != nil, trainSet.classes > 0 else {
                throw GlowError("--conditional: --dataset \(dataset) has no labels")
            }
            cfg.classes = trainSet.classes
        }
        try cfg.validate()
        let totalSteps = steps ?? (epochs.map { ($0 * trainSet.count + cfg.batch - 1) / cfg.batch } ?? 2000)
        guard totalSteps >= 1 else { throw GlowError("--steps \(totalSteps): must be at least 1") }

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let backend = try DeviceSelector.open(device)
        try train(backend, cfg, opt, memoryMode, trainSet, test, totalSteps)
    }

    func train<B: Backend>(_ backend: B, _ cfg: GlowConfig, _ opt: OptimizerConfig, _ memoryMode: MemoryMode,
                           _ trainSet: ImageSet, _ testSet: ImageSet?, _ totalSteps: Int) throws {
        let ckptPath = out + "/checkpoint.safetensors", statePath = out + "/training-state.safetensors"
        let model: Glow<B>
        if resume {
            guard FileManager.default.fileExists(atPath: ckptPath), FileManager.default.fileExists(atPath: statePath) else {
                throw GlowError("--resume: \(out) holds no checkpoint.safetensors and training-state.safetensors")
            }
            model = try Checkpoint.load(ckptPath, backend: backend)
            guard model.config.K == cfg.K, model.config.L == cfg.L, model.config.hidden == cfg.hidden,
                  model.config.classes == cfg.classes,
                  model.config.height == cfg.height, model.config.channels == cfg.channels else {
                throw GlowError("--resume: \(ckptPath) holds a K=\(model.config.K) L=\(model.config.L) hidden=\(model.config.hidden) "
                    + "model of \(model.config.channels)×\(model.config.height)×\(model.config.width); the options ask for "
                    + "K=\(cfg.K) L=\(cfg.L) hidden=\(cfg.hidden) on \(cfg.channels)×\(cfg.height)×\(cfg.width)")
            }
        } else {
            model = try Glow(config: cfg, backend: backend, seed: seed)
        }
        let trainer = try Trainer(model: model, optimizer: opt, data: trainSet, batch: cfg.batch, seed: seed, memory: memoryMode)
        var metrics: [MetricsRecord] = []
        let metricsPath = out + "/metrics.jsonl"
        if resume {
            let state = try SafeTensorsFile.read(path: statePath)
            try trainer.restore(state: state, source: statePath)
            metrics = MetricsRecord.read(path: metricsPath).filter { $0.step <= trainer.step }
        } else {
            try? FileManager.default.removeItem(atPath: metricsPath)
        }
        let params = model.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
        print("glow-gpu train: \(backend.name)")
        print("  model \(cfg.channels)×\(cfg.height)×\(cfg.width) K=\(cfg.K) L=\(cfg.L) hidden=\(cfg.hidden) \(cfg.coupling.rawValue)/"
            + "\(cfg.permutation.rawValue)\(cfg.lu ? "+LU" : "") learn_top=\(cfg.learnTop), \(params) parameters")
        print("  data \(dataset): \(trainSet.count) train, \(testSet?.count ?? 0) test images; batch \(cfg.batch), "
            + "\(opt.kind.rawValue) lr \(opt.learningRate) warm-up \(opt.warmup), memory \(memoryMode.rawValue)")
        print("  output \(out)")
        if trainer.step >= totalSteps {
            print("already at step \(trainer.step) ≥ --steps \(totalSteps); nothing to do")
            return
        }
        if !resume {
            print("  initialising ActNorms from data…")
            try trainer.initialize()
        }

        let start = Date()
        let progress = Progress(total: totalSteps, label: "train", deadline: minutes.map { start.addingTimeInterval($0 * 60) })
        var recentImages = 0, recentTime = 0.0, lastBPD = Double.nan
        var stoppedEarly = false
        while trainer.step < totalSteps {
            let r = try trainer.trainStep()
            if r.skipped {
                progress.interrupt()
                print("step \(r.step): non-finite loss (\(r.bpd)) or gradient norm (\(r.gradientNorm)); update skipped")
            }
            recentImages += cfg.batch; recentTime += r.seconds
            let ips = Double(recentImages) / max(recentTime, 1e-9)
            if recentTime > 20 { recentImages /= 2; recentTime /= 2 }
            if r.bpd.isFinite { lastBPD = lastBPD.isFinite ? 0.9 * lastBPD + 0.1 * r.bpd : r.bpd }
            progress.update(trainer.step, String(format: "%.1f img/s  bpd %.3f  lr %.1e", ips, lastBPD, r.learningRate))
            let s = trainer.step
            var record = MetricsRecord(step: s, trainBPD: r.bpd, testBPD: nil, imagesPerSecond: ips,
                                       learningRate: r.learningRate, gradientNorm: r.gradientNorm)
            let outOfTime = minutes.map { Date().timeIntervalSince(start) >= $0 * 60 } ?? false
            let last = s >= totalSteps || outOfTime
            if let testSet, (evalEvery > 0 && s % evalEvery == 0) || last {
                let subset = last ? testSet : testSet.subset(Array(0..<min(evalImages, testSet.count)))
                try trainer.optimizer.swapEMA()
                let bpd = try Evaluation.meanBPD(model, subset, batch: max(cfg.batch, 64))
                try trainer.optimizer.swapEMA()
                record.testBPD = bpd
                progress.interrupt()
                print(String(format: "step %d: test bpd %.4f on %d images (train bpd %.4f)", s, bpd, subset.count, lastBPD))
            }
            metrics.append(record)
            record.append(to: metricsPath)
            if (sampleEvery > 0 && s % sampleEvery == 0) || last { try writeSamples(model, trainer, step: s) }
            if (saveEvery > 0 && s % saveEvery == 0) || last {
                try trainer.save(to: out)
                try MetricsRecord.plot(metrics, path: out + "/bpd.png")
            }
            if outOfTime && !last { stoppedEarly = true; break }
            if outOfTime { stoppedEarly = s < totalSteps; break }
        }
        progress.interrupt()
        let mins = Date().timeIntervalSince(start) / 60
        print(String(format: "done: step %d of %d in %.1f min%@", trainer.step, totalSteps, mins,
                     stoppedEarly ? " (stopped by --minutes; --resume continues)" : ""))
        if let t = metrics.last(where: { $0.testBPD != nil })?.testBPD { print(String(format: "test bpd %.4f", t)) }
        print("wrote \(out)/checkpoint.safetensors, \(out)/training-state.safetensors, \(out)/metrics.jsonl, "
            + "\(out)/samples.png (T=0.7), \(out)/bpd.png")
    }

    func writeSamples<B: Backend>(_ model: Glow<B>, _ trainer: Trainer<B>, step: Int) throws {
        try trainer.optimizer.swapEMA()
        defer { try? trainer.optimizer.swapEMA() }
        let c = model.config
        // Class-conditional models: row r of the 8×8 grid shows class r mod classes.
        let labels = c.classes > 0 ? (0..<64).map { ($0 / 8) % c.classes } : nil
        let x = try model.sample(count: 64, temperature: 0.7, seed: 7, labels: labels).nchw()
        let pixels = Preprocess.toPixels(x, nBits: c.nBits)
        for path in [out + "/samples.png", out + String(format: "/samples-step%06d.png", step)] {
            try ImageGrid.write(path: path, images: pixels, count: 64, channels: c.channels, height: c.height,
                                width: c.width, columns: 8)
        }
    }
}
