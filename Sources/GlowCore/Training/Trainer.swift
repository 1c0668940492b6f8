import Foundation

/// What one training step did.
public struct StepReport: Sendable {
    /// 0-based step index.
    public let step: Int
    /// Mean train bpd of the batch (dequantised).
    public let bpd: Double
    /// Global gradient norm before clipping.
    public let gradientNorm: Double
    /// Learning rate used.
    public let learningRate: Double
    /// True when the step skipped its update: a non-finite loss or gradient, or (under
    /// `--clip auto`) a gradient norm far above the recent ones.
    public let skipped: Bool
    /// True when the gradients were scaled down to the clipping threshold.
    public var clipped = false
    /// The clipping threshold the step used (nil: none).
    public var clipThreshold: Double?
    /// The norm above which the step would have been skipped (nil: only a non-finite one).
    public var skipThreshold: Double?
    /// With `--recover`: the step whose copy of the weights this step rolled back to.
    public var rolledBackTo: Int?
    /// Wall time of the step.
    public let seconds: Double
    /// Seconds of the step spent averaging gradients over the ranks (0 for one process).
    public var allReduceSeconds: Double = 0
}

/// Trains a Glow model on an image set: data order and dequantisation noise derive from
/// the seed and the step number alone, so a run resumed from its training state continues
/// exactly as if it had never stopped. Data-parallel over a `Communicator`'s ranks, rank r
/// takes slice r of each global batch (`size · batch` images) and gradients are averaged,
/// so N ranks train as one process would at batch N · batch.
public final class Trainer<B: Backend> {
    /// The model being trained.
    public let model: Glow<B>
    /// The optimizer.
    public let optimizer: Optimizer<B>
    /// Training images (already resized and padded to the model's shape).
    public let data: ImageSet
    /// Images per step on this rank.
    public let batch: Int
    /// The ranks training together (one process alone by default).
    public let communicator: any Communicator
    /// Images per step over all ranks: `size · batch`.
    public var globalBatch: Int { batch * communicator.size }
    /// Seed of data order, noise and initialisation.
    public let seed: UInt64
    /// How activations are kept for the backward pass.
    public let memory: MemoryMode
    /// Steps completed.
    public private(set) var step = 0
    /// Consecutive skipped steps; training stops after `maxSkips`.
    public private(set) var consecutiveSkips = 0
    /// Consecutive non-finite steps tolerated before `step()` throws.
    public var maxSkips = 5
    /// The recent range of gradient norms, for `OptimizerConfig.adaptiveClip`.
    public private(set) var spikeGuard = SpikeGuard()
    /// Rolling back to the last good weights (`--recover`; nil: off). Set before the first step.
    public var recovery: Recovery?
    let backend: B
    private let exchange: GradientExchange<B>?

    /// A trainer for `model` on `data`; with a `communicator` of several ranks, one rank
    /// of a data-parallel job (every rank holds the same model, data and options).
    public init(model: Glow<B>, optimizer: OptimizerConfig, data: ImageSet, batch: Int, seed: UInt64, memory: MemoryMode,
                communicator: any Communicator = SingleProcessCommunicator()) throws {
        guard data.channels == model.config.channels, data.height == model.config.height, data.width == model.config.width else {
            throw GlowError("training images are \(data.channels)×\(data.height)×\(data.width) but the model takes "
                + "\(model.config.channels)×\(model.config.height)×\(model.config.width)")
        }
        guard data.count >= 1 else { throw GlowError("the training set is empty") }
        guard batch >= 1 else { throw GlowError.invalid(.batch, value: "\(batch)", expected: "must be at least 1") }
        // A lower bound of one step's memory: the batch in model space and its noise, the latents,
        // and two hidden activations of the first level's coupling network per image.
        let c = model.config
        let perImage = MemoryLimit.sum([Sizes.product([3, c.dimension]),
                                        Sizes.product([2, c.hidden, c.levelHeight(0), c.levelWidth(0)])])
        do {
            try MemoryLimit.check(bytes: perImage.flatMap { Sizes.product([$0, batch, 4]) },
                                  what: "a training step of \(batch) images of \(c.channels)×\(c.height)×\(c.width) with hidden \(c.hidden)")
        } catch let e as GlowError { throw GlowError.invalid(.batch, value: "\(batch)", expected: e.text) }
        guard data.count >= communicator.size else {
            throw GlowError("the training set has \(data.count) images, fewer than the \(communicator.size) ranks")
        }
        if model.config.classes > 0 {
            guard data.labels != nil, data.classes == model.config.classes else {
                throw GlowError("the model is class-conditional with \(model.config.classes) classes but the training "
                    + "images have \(data.labels == nil ? "no labels" : "\(data.classes) classes")")
            }
        }
        self.model = model; self.data = data; self.batch = batch; self.seed = seed; self.memory = memory
        self.communicator = communicator
        backend = model.backend
        self.optimizer = try Optimizer(model, config: optimizer)
        exchange = communicator.size > 1
            ? GradientExchange(arena: model.arena, backend: backend, communicator: communicator) : nil
        recordsSteps = backend.recordsWork && communicator.size == 1 && model.config.classes == 0
        spikeGuard.clipFactor = Float(optimizer.adaptiveClipFactor)
        spikeGuard.skipFactor = 10 * spikeGuard.clipFactor
        spikeGuard.skipRun = optimizer.skipRun
    }

    /// Indices of the images of step `s` over all ranks (`globalBatch` of them): epoch e
    /// visits a permutation drawn from (seed, e).
    /// - Throws: `GlowError` when `s × globalBatch` is past the largest `Int`.
    public func batchIndices(step s: Int) throws -> [Int] {
        let batch = globalBatch
        var out: [Int] = []
        let (start, overflow) = s.multipliedReportingOverflow(by: batch)
        guard s >= 0, !overflow, start <= Int.max - batch else {
            throw GlowError("step \(s) × batch \(batch): the data position is past the largest integer")
        }
        var pos = start
        var epoch = pos / data.count
        var order = try Shuffle.permutation(count: data.count, seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        while out.count < batch {
            let e = pos / data.count
            if e != epoch { epoch = e; order = try Shuffle.permutation(count: data.count, seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15) }
            out.append(order[pos % data.count])
            pos += 1
        }
        return out
    }

    /// The labels of `indices` for a class-conditional model (nil otherwise).
    public func labels(_ indices: [Int]) -> [Int]? {
        guard model.config.classes > 0, let l = data.labels else { return nil }
        return indices.map { l[$0] }
    }

    /// The images `indices` in model space with dequantisation noise U(0, 1/2^n_bits)
    /// drawn on the device from (seed, stream); `noiseSkip` images of the stream come
    /// before them (a rank's slice of a global batch gets that slice's noise).
    public func input(_ indices: [Int], noiseStream: UInt64?, noiseSkip: Int = 0) throws -> Tensor<B> {
        try Trainer.input(try data.subset(indices), model: model, noiseSeed: seed, noiseStream: noiseStream, noiseSkip: noiseSkip)
    }

    /// `set` in model space on `model`'s backend, with noise when `noiseStream` is given,
    /// starting `noiseSkip` images into the stream: the pixel bytes go up as they are (one
    /// upload, a quarter of the floats) and one `dequantize` launch scales them, adds the
    /// noise drawn from exactly this slice's part of the stream, and lays them out CNHW.
    public static func input(_ set: ImageSet, model: Glow<B>, noiseSeed: UInt64, noiseStream: UInt64?,
                             noiseSkip: Int = 0) throws -> Tensor<B> {
        let c = model.config, b = model.backend
        guard set.count >= 1, set.pixels.count == set.count * c.dimension else {
            throw GlowError("\(set.count) images of \(set.pixels.count) pixel bytes do not match the model's \(c.channels)×\(c.height)×\(c.width)")
        }
        let x = try Tensor(b, images: set.count, channels: c.channels, height: c.height, width: c.width)
        let noise = noiseStream.map { DequantizationNoise(seed: noiseSeed, stream: $0, first: noiseSkip * c.dimension) }
        try b.dequantize(try b.makeBuffer(PixelBytes.pack(set.pixels)), images: set.count, channels: c.channels,
                         height: c.height, width: c.width, nBits: c.nBits,
                         scalars: try b.makeBuffer(StepScalars(noise: noise).floats), x: x.buffer)
        return x
    }

    /// This rank's part `lo ..< hi` of `count` items split as evenly as possible.
    public func rankSlice(of count: Int) -> Range<Int> {
        let r = communicator.rank, n = communicator.size
        return (r * count / n) ..< ((r + 1) * count / n)
    }

    /// Data-dependent ActNorm initialisation from the first `max(globalBatch, 64)` images
    /// of the data order (at most the whole set); over several ranks each encodes its slice
    /// and the ActNorms' statistics are summed over the ranks, as one process would.
    public func initialize() throws {
        let n = min(data.count, max(globalBatch, 64))
        let order = try Shuffle.permutation(count: data.count, seed: seed ^ 0xA5A5_A5A5)
        let mine = rankSlice(of: n)
        let indices = Array(order[mine])
        let actnorms = model.actnorms
        if communicator.size > 1 { for a in actnorms { a.communicator = communicator } }
        defer { for a in actnorms { a.communicator = nil } }
        _ = try model.encode(try input(indices, noiseStream: 0xFFFF_FFFF, noiseSkip: mine.lowerBound), labels: labels(indices),
                             initialize: true)
        // The EMA averages the initialised weights, not ActNorm's placeholders.
        try optimizer.restartEMA()
    }

    /// What a step reads and writes on the device, kept from step to step at fixed addresses
    /// (a step allocates nothing, and a recorded step finds them where it left them): the
    /// batch's pixel bytes, the `StepScalars`, the batch in model space and the record.
    private struct StepBuffers {
        let pixels: B.Buffer, scalars: B.Buffer, x: Tensor<B>, record: StepRecord<B>
    }
    private var buffers: StepBuffers?
    /// The step recorded for replay (CUDA Graphs), once the backend made one.
    public private(set) var recordedStep: RecordedWork?
    /// Whether this trainer records a step: on a backend that records work, until a step
    /// turns out not to be recordable. A step is recorded only when it makes the host wait once
    /// (one process, an unconditional model: class-conditional models read their
    /// cross-entropy mid-step, and several ranks exchange gradients through the host).
    public private(set) var recordsSteps: Bool
    /// Why steps are not replayed, when recording was tried and declined (for `bench` and logs).
    public private(set) var recordingNote: String?
    /// Steps run by this trainer object (a resumed trainer starts again at 0).
    private var stepsRun = 0

    /// True when the next `trainStep` records the step (the second step of this trainer
    /// on a backend that replays: the first fills caches and the buffer pool eagerly).
    public var recordsNextStep: Bool { recordsSteps && recordedStep == nil && stepsRun >= 1 }

    /// One step: forward, backward, gradient norm, and (unless non-finite) the update, all
    /// enqueued on the device; the host then waits once, for the step record (loss terms,
    /// norm, applied or skipped). Under MPI the gradient all-reduce adds one more wait.
    /// The pixel bytes and the step's scalars (learning rate, bias corrections, clipping
    /// threshold, noise stream) go up first, so that on a backend that records work the
    /// second step is recorded and every later one replays it (`Backend.record`).
    @discardableResult
    public func trainStep() throws -> StepReport {
        let t0 = Date()
        let s = step
        let mine = rankSlice(of: globalBatch)
        let indices = Array(try batchIndices(step: s)[mine])
        let set = try data.subset(indices)
        let c = model.config
        let io = try buffers ?? StepBuffers(
            pixels: try backend.allocate((set.pixels.count + 3) / 4), scalars: try backend.allocate(StepScalars.count),
            x: try Tensor(backend, images: set.count, channels: c.channels, height: c.height, width: c.width),
            record: try StepRecord(backend, images: set.count))
        buffers = io
        let lr = optimizer.config.learningRate(at: s) * (recovery?.learningRateScale ?? 1)
        let noise = DequantizationNoise(seed: seed, stream: UInt64(s) + 1, first: mine.lowerBound * c.dimension)
        try backend.upload(PixelBytes.pack(set.pixels), to: io.pixels, offset: 0)
        let scalars = optimizer.scalars(learningRate: lr, noise: noise, thresholds: spikeGuard.thresholds)
        try backend.upload(scalars.floats, to: io.scalars, offset: 0)
        let labels = labels(indices)
        var crossEntropy: [Double]?
        var exchangeSeconds = 0.0
        let enqueue = { [self] in
            try backend.dequantize(io.pixels, images: set.count, channels: c.channels, height: c.height, width: c.width,
                                   nBits: c.nBits, scalars: io.scalars, x: io.x.buffer)
            crossEntropy = try model.enqueueGradients(io.x, labels: labels, memory: memory, record: io.record)
            try model.arena.markLoss(io.record)
            if let exchange {
                // Equal slices: the mean of the ranks' mean gradients is the global batch's. A
                // non-finite value on any rank (the loss through the arena's loss slot) makes
                // the sums non-finite on all, so all skip.
                exchangeSeconds = try exchange.average()
            }
            try optimizer.enqueueUpdate(record: io.record, scalars: io.scalars)
        }
        if let recordedStep {
            try backend.replay(recordedStep)
        } else if recordsNextStep {
            do {
                recordedStep = try backend.record(enqueue)
                if recordedStep == nil { recordsSteps = false }
            } catch let e as RecordingUnsupported {
                // Nothing recorded ran: enqueue the step as usual, and from now on always.
                recordsSteps = false; recordingNote = e.description
                try enqueue()
            }
        } else {
            try enqueue()
        }
        stepsRun += 1
        let values = try io.record.read(backend)
        optimizer.finish(applied: values.applied)
        let pass = model.pass(values, crossEntropy: crossEntropy)
        var loss = pass.loss, bpd = pass.meanBPD
        if exchange != nil {
            var sums = [pass.loss, pass.bpd.reduce(0, +)]
            try communicator.allReduceSum(&sums)
            loss = sums[0] / Double(communicator.size)
            bpd = sums[1] / Double(globalBatch)
        }
        let norm = Double(values.norm)
        // A step skipped for its norm alone is not counted towards `maxSkips`.
        let finite = values.norm.isFinite && loss.isFinite
        if finite { consecutiveSkips = 0 } else { consecutiveSkips += 1 }
        if optimizer.config.adaptiveClip { spikeGuard.add(norm: values.norm, skipped: !values.applied) }
        step += 1
        var report = StepReport(step: s, bpd: bpd, gradientNorm: norm, learningRate: lr, skipped: !values.applied,
                                seconds: Date().timeIntervalSince(t0), allReduceSeconds: exchangeSeconds)
        report.clipped = values.applied && values.clipFactor < 1
        report.clipThreshold = scalars.clip > 0 ? Double(scalars.clip) : nil
        report.skipThreshold = scalars.skipAbove > 0 ? Double(scalars.skipAbove) : nil
        if var r = recovery {
            switch r.observe(bpd: bpd, step: step) {
            case .none: break
            case .snapshot: try optimizer.takeSnapshot()
            case .rollBack(let to):
                try optimizer.rollBack()
                report.rolledBackTo = to
            }
            recovery = r
        }
        if consecutiveSkips >= maxSkips {
            throw GlowError("training stopped: \(consecutiveSkips) consecutive steps had a non-finite loss or gradient "
                + "(last at step \(s), loss \(loss), gradient norm \(norm)); lower \(Setting.learningRate) or set \(Setting.clip)")
        }
        return report
    }

    // MARK: Saving and resuming

    /// The training state beside `checkpoint.safetensors`: optimizer moments, EMA, step, seed.
    public func stateFile() throws -> SafeTensorsFile {
        // "batch" is the global batch: the data order depends on it alone, not on the ranks.
        var f = SafeTensorsFile(metadata: ["format": "glow-gpu-train/1", "step": String(step), "seed": String(seed),
                                           "batch": String(globalBatch), "ranks": String(communicator.size),
                                           "memory": memory.rawValue,
                                           "optimizer": optimizer.config.kind.rawValue,
                                           "spike_guard": spikeGuard.metadata])
        if let recovery { f.metadata["recovery"] = recovery.metadata }
        f.metadata.merge(optimizer.config.savedSettings) { old, _ in old }
        try optimizer.state(into: &f)
        return f
    }

    /// Writes `checkpoint.safetensors` and `training-state.safetensors` into `directory` as one
    /// consistent unit (`RunFiles`: both carry the same save id and step; the previous pair is
    /// kept until the new one is complete), then `checkpoint-ema.safetensors` when EMA is on.
    public func save(to directory: String) throws {
        let id = RunFiles.newSaveID()
        var ckpt = try Checkpoint.file(model)
        ckpt.metadata["train_step"] = String(step)
        ckpt.metadata["save_id"] = id
        var state = try stateFile()
        state.metadata["save_id"] = id
        try RunFiles(directory: directory).save(checkpoint: ckpt, state: state)
        if optimizer.config.ema != nil {
            try optimizer.swapEMA()
            defer { try? optimizer.swapEMA() }
            var ema = try Checkpoint.file(model)
            ema.metadata["train_step"] = String(step)
            let bytes: [UInt8]
            do { bytes = try ema.encode() } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
            try AtomicFile.write(bytes, to: directory + "/checkpoint-ema.safetensors")
        }
    }

    /// Restores step and optimizer state (the model was loaded from the checkpoint).
    public func restore(state file: SafeTensorsFile, source: String) throws {
        guard file.metadata["format"] == "glow-gpu-train/1" else { throw GlowError("\(source): not a glow-gpu training state") }
        guard let s = file.metadata["step"].flatMap(Int.init), let sd = file.metadata["seed"].flatMap(UInt64.init) else {
            throw GlowError("\(source): training state lacks step or seed")
        }
        guard sd == seed else { throw GlowError.differsFromSaved(file: source, setting: .seed, saved: "\(sd)", given: "\(seed)") }
        if let b = file.metadata["batch"].flatMap(Int.init), b != globalBatch {
            let ranks = file.metadata["ranks"].flatMap(Int.init) ?? 1
            let n = communicator.size
            throw GlowError("\(source): was trained with a global batch of \(b) images"
                + (ranks > 1 ? " (\(ranks) ranks × \(Setting.batch) \(b / ranks))" : " (\(Setting.batch) \(b))")
                + ", not \(globalBatch)" + (n > 1 ? " (\(n) ranks × \(Setting.batch) \(batch))" : "")
                + "; resume with a global batch of \(b): ranks × \(Setting.batch) = \(b)")
        }
        if let o = file.metadata["optimizer"], o != optimizer.config.kind.rawValue {
            throw GlowError("\(source): was trained with \(Setting.optimizer) \(o), not \(optimizer.config.kind.rawValue)")
        }
        // A run trained without EMA may be resumed with it (the average starts from the
        // weights); dropping an EMA would lose it.
        if file.holdsEMA && optimizer.config.ema == nil {
            throw GlowError("\(source): was trained with \(Setting.ema); pass \(Setting.ema) with its decay to resume")
        }
        guard s >= 0 else { throw GlowError("\(source): step \(s) is negative") }
        try optimizer.restore(from: file, source: source)
        try spikeGuard.restore(metadata: file.metadata["spike_guard"] ?? "", source: source)
        if recovery != nil, let text = file.metadata["recovery"] { try recovery?.restore(metadata: text, source: source) }
        step = s
    }
}

/// Mean bits per dimension over an image set, with dequantisation noise from a fixed seed.
public enum Evaluation {
    /// Mean bpd of `set` under `model`, in batches of `batch`; noise from `seed`. Over
    /// several ranks, batch k goes to rank k mod size (each batch with the noise it has in
    /// one process) and the sums are reduced, so every rank returns the same mean.
    /// - Throws: `GlowError` for an empty set, and for a non-finite mean unless `allowNonFinite`
    ///   (training records such a test bpd as missing instead of stopping).
    public static func meanBPD<B: Backend>(_ model: Glow<B>, _ set: ImageSet, batch: Int, seed: UInt64 = 1234,
                                           allowNonFinite: Bool = false,
                                           communicator: any Communicator = SingleProcessCommunicator(),
                                           progress: ((Int, Int) -> Void)? = nil) throws -> Double {
        guard set.count >= 1 else { throw GlowError("evaluation: the image set is empty") }
        guard batch >= 1 else { throw GlowError("evaluation: batch \(batch) must be at least 1") }
        var total = 0.0
        var start = 0, k = 0
        while start < set.count {
            let idx = Array(start..<min(set.count, start + batch))
            if k % communicator.size == communicator.rank {
                let sub = try set.subset(idx)
                let x = try Trainer.input(sub, model: model, noiseSeed: seed, noiseStream: UInt64(start))
                let labels = model.config.classes > 0 ? sub.labels : nil
                total += try model.encode(x, labels: labels).bpd.reduce(0, +)
                progress?(start + idx.count, set.count)
            }
            start += idx.count; k += 1
        }
        var sums = [total]
        try communicator.allReduceSum(&sums)
        let mean = sums[0] / Double(set.count)
        guard mean.isFinite || allowNonFinite else {
            throw GlowError("evaluation: the mean bpd over \(set.count) images is not finite (\(mean)); the model or the images are degenerate")
        }
        return mean
    }
}
