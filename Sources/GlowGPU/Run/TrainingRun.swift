import Foundation
import GlowCore

/// When a `TrainingRun` evaluates, writes samples and saves, and when it stops.
public struct TrainingSchedule: Sendable, Equatable {
    /// The step to reach (also when resuming).
    public var totalSteps: Int
    /// Evaluate the test bpd on `evalImages` test images every this many steps (0: only at
    /// the end, which always evaluates on the whole test set).
    public var evalEvery = 500
    /// Test images per periodic evaluation.
    public var evalImages = 1000
    /// Write a sample grid every this many steps (0: only at the end).
    public var sampleEvery = 500
    /// Save checkpoint and training state every this many steps (and at the end).
    public var saveEvery = 500
    /// A time budget in minutes: training stops early enough for the final evaluation, the
    /// samples and the save to fit in it.
    public var minutes: Double?

    /// A schedule that trains to `totalSteps`.
    public init(totalSteps: Int, evalEvery: Int = 500, evalImages: Int = 1000, sampleEvery: Int = 500,
                saveEvery: Int = 500, minutes: Double? = nil) {
        self.totalSteps = totalSteps; self.evalEvery = evalEvery; self.evalImages = evalImages
        self.sampleEvery = sampleEvery; self.saveEvery = saveEvery; self.minutes = minutes
    }
}

/// One training run as `glow-gpu train` does it, for any program: a model (new, or resumed
/// from a run folder), its `Trainer`, and the loop around the steps — periodic evaluation
/// with the EMA weights swapped in, sample grids, checkpoints and training state, metrics.jsonl
/// and bpd.png, a time budget that keeps room for the final evaluation, and a stop on request
/// (a signal) that saves first. What happens is reported through `Event`s; the caller prints.
///
/// ```swift
/// let run = try TrainingRun(backend: CPUBackend(), config: cfg, optimizer: OptimizerConfig(),
///                           trainSet: train, testSet: test, schedule: TrainingSchedule(totalSteps: 100),
///                           directory: "runs/tiny")
/// try run.initialize()
/// let outcome = try run.run { event in print(event) }
/// ```
public final class TrainingRun<B: Backend> {
    /// Something the caller may want to show.
    public enum Event {
        /// A step ran: its report, the images per second over the last ~20 s, the smoothed
        /// train bpd, and the clipped and skipped steps so far in this process.
        case stepped(StepReport, imagesPerSecond: Double, smoothedBPD: Double, clipped: Int, skipped: Int)
        /// The step's update was skipped (a non-finite loss or gradient norm, or a norm far
        /// above the recent ones); sent before `stepped`.
        case skipped(StepReport)
        /// The test bpd after `step`, on `images` test images (`trainBPD`: the smoothed train bpd).
        case evaluated(step: Int, bpd: Double, images: Int, trainBPD: Double)
        /// The evaluation gave a non-finite value; it is not recorded and training goes on.
        case evaluationNotFinite(step: Int, bpd: Double, images: Int)
        /// Some sampled images were not finite (crossed out): one note per temperature.
        case samplesNotFinite(step: Int, notes: [String])
        /// With recovery on: the mean train bpd stayed high, so the weights went back to their
        /// copy from step `to` and the learning rate was scaled to `learningRateScale`.
        case rolledBack(step: Int, to: Int, learningRateScale: Double)
    }

    /// How the run ended.
    public struct Outcome: Sendable {
        /// The step reached.
        public var step: Int
        /// True when the time budget stopped training before `totalSteps`.
        public var stoppedByBudget: Bool
        /// The stop request (signal number) that ended the run after a save, if any.
        public var stopSignal: Int32?
        /// Minutes spent in `run`.
        public var minutes: Double
        /// The last finite test bpd recorded, if any.
        public var testBPD: Double?
    }

    /// The model being trained.
    public let model: Glow<B>
    /// Its trainer (optimizer, data order, recorded steps).
    public let trainer: Trainer<B>
    /// The test images (nil: no evaluation).
    public let testSet: ImageSet?
    /// The schedule.
    public let schedule: TrainingSchedule
    /// The run folder.
    public let files: RunFiles
    /// The ranks (one process alone by default).
    public let communicator: any Communicator
    /// The metrics so far (those of a resumed run up to its checkpoint, then this run's).
    public private(set) var metrics: [MetricsRecord] = []
    /// Polled after every step: a signal number asks the run to save and stop (under MPI a
    /// request on any rank stops them all after the same step).
    public var stopRequest: () -> Int32? = { nil }
    /// Whether the run was resumed from the folder's files.
    public let resumed: Bool

    /// The temperatures of the sample grid, two rows of 8 each, the same noise in every pair
    /// of rows: at T = 0 (the prior's means) and 0.5 structure shows long before the model
    /// samples well at 0.7 and 0.9.
    public static var sampleTemperatures: [Float] { [0, 0.5, 0.7, 0.9] }

    private var metricsPath: String { files.directory + "/metrics.jsonl" }
    /// A new run's first metrics line starts metrics.jsonl afresh.
    private var freshMetrics: Bool

    /// A run in `directory` (created when missing): a new model of `config` (initialised from `seed`), or, with
    /// `resume`, the model and training state of the pair `RunFiles.latest()` found there,
    /// with metrics.jsonl cut back to the checkpoint's step. `recovery` turns on rolling back
    /// to the last good weights (`Recovery`).
    public init(backend: B, config: GlowConfig, optimizer: OptimizerConfig, memory: MemoryMode = .store, seed: UInt64 = 1,
                resume: RunFiles.Pair? = nil, trainSet: ImageSet, testSet: ImageSet?, schedule: TrainingSchedule,
                directory: String, communicator: any Communicator = SingleProcessCommunicator(),
                recovery: Recovery? = nil) throws {
        files = RunFiles(directory: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let pair = resume {
            model = try Checkpoint.load(pair.checkpoint, source: files.checkpoint, backend: backend)
        } else {
            model = try Glow(config: config, backend: backend, seed: seed)
        }
        trainer = try Trainer(model: model, optimizer: optimizer, data: trainSet, batch: config.batch, seed: seed, memory: memory,
                              communicator: communicator)
        trainer.recovery = recovery
        self.testSet = testSet; self.schedule = schedule; self.communicator = communicator
        resumed = resume != nil
        freshMetrics = resume == nil
        if let pair = resume {
            try trainer.restore(state: pair.state, source: files.state)
            try communicator.checkSame(trainer.step, "the step in \(files.state)")
            // Lines past the checkpoint (steps trained after its save) go, so no step appears twice.
            metrics = MetricsRecord.read(path: metricsPath).filter { $0.step <= trainer.step }
            if communicator.isRoot { try MetricsRecord.write(metrics, to: metricsPath) }
        }
    }

    /// Initialises the ActNorms from data (a new run, before the first step).
    public func initialize() throws { try trainer.initialize() }

    /// Trains until `schedule.totalSteps`, the time budget or a stop request, reporting
    /// through `events`; saves at the end (and on a stop request, before returning).
    public func run(_ events: (Event) throws -> Void = { _ in }) throws -> Outcome {
        let start = Date()
        let minutes = schedule.minutes, totalSteps = schedule.totalSteps, comm = communicator
        let batch = trainer.batch
        var recentImages = 0, recentTime = 0.0, lastBPD = Double.nan
        var evalRate: Double?   // test images per second, measured by the periodic evaluations
        var clippedSteps = 0, skippedSteps = 0   // in this process's run
        var stoppedEarly = false
        while trainer.step < totalSteps {
            let r = try trainer.trainStep()
            if r.skipped {
                skippedSteps += 1
                try events(.skipped(r))
            }
            if r.clipped { clippedSteps += 1 }
            if let to = r.rolledBackTo {
                try events(.rolledBack(step: r.step + 1, to: to, learningRateScale: trainer.recovery?.learningRateScale ?? 1))
            }
            recentImages += trainer.globalBatch; recentTime += r.seconds
            let ips = Double(recentImages) / max(recentTime, 1e-9)
            if recentTime > 20 { recentImages /= 2; recentTime /= 2 }
            if r.bpd.isFinite { lastBPD = lastBPD.isFinite ? 0.9 * lastBPD + 0.1 * r.bpd : r.bpd }
            try events(.stepped(r, imagesPerSecond: ips, smoothedBPD: lastBPD, clipped: clippedSteps, skipped: skippedSteps))
            let s = trainer.step
            var record = MetricsRecord(step: s, trainBPD: r.bpd, testBPD: nil, imagesPerSecond: ips,
                                       learningRate: r.learningRate, gradientNorm: r.gradientNorm)
            record.clipped = r.clipped; record.skipped = r.skipped; record.clipThreshold = r.clipThreshold
            record.rolledBackTo = r.rolledBackTo
            // Agreed over the ranks, so that all stop after the same step. The budget keeps room
            // for the final evaluation on the whole test set, the samples and the save; the
            // evaluation's rate is measured on one batch after the first step until a periodic
            // evaluation measures it on more.
            if minutes != nil, evalRate == nil, let testSet {
                let n = min(testSet.count, max(batch, 64))
                let probeStart = Date()
                _ = try Evaluation.meanBPD(model, try testSet.subset(Array(0..<n)), batch: max(batch, 64),
                                           allowNonFinite: true, communicator: comm)
                evalRate = Double(n) / max(Date().timeIntervalSince(probeStart), 1e-6)
            }
            let reserve = Self.finalWorkSeconds(testImages: testSet?.count ?? 0, evalRate: evalRate, trainRate: ips)
            let outOfTime = try comm.any(minutes.map { Date().timeIntervalSince(start) + reserve >= $0 * 60 } ?? false)
            let last = s >= totalSteps || outOfTime
            // A stop request skips the evaluation and samples (they can take long) and saves at once.
            let signal = try comm.any(stopRequest() != nil) ? (stopRequest() ?? SIGTERM) : nil
            if signal == nil, let testSet, (schedule.evalEvery > 0 && s % schedule.evalEvery == 0) || last {
                let subset = last ? testSet : try testSet.subset(Array(0..<min(schedule.evalImages, testSet.count)))
                try trainer.optimizer.swapEMA()
                let evalStart = Date()
                let bpd = try Evaluation.meanBPD(model, subset, batch: max(batch, 64), allowNonFinite: true, communicator: comm)
                evalRate = Double(subset.count) / max(Date().timeIntervalSince(evalStart), 1e-6)
                try trainer.optimizer.swapEMA()
                if bpd.isFinite {
                    record.testBPD = bpd
                    try events(.evaluated(step: s, bpd: bpd, images: subset.count, trainBPD: lastBPD))
                } else {
                    // Recorded as missing (null), not as NaN; training goes on (its own loss is checked per step).
                    try events(.evaluationNotFinite(step: s, bpd: bpd, images: subset.count))
                }
            }
            metrics.append(record)
            if comm.isRoot { try record.append(to: metricsPath, truncateFirst: freshMetrics) }
            freshMetrics = false
            if comm.isRoot, signal == nil, (schedule.sampleEvery > 0 && s % schedule.sampleEvery == 0) || last {
                let notes = try writeSamples(step: s)
                if !notes.isEmpty { try events(.samplesNotFinite(step: s, notes: notes)) }
            }
            if comm.isRoot, (schedule.saveEvery > 0 && s % schedule.saveEvery == 0) || last || signal != nil {
                try trainer.save(to: files.directory)
                try MetricsRecord.plot(metrics, path: files.directory + "/bpd.png")
            }
            if let signal {
                return outcome(start, stoppedByBudget: false, signal: signal)
            }
            if outOfTime && !last { stoppedEarly = true; break }
            if outOfTime { stoppedEarly = s < totalSteps; break }
        }
        return outcome(start, stoppedByBudget: stoppedEarly, signal: nil)
    }

    private func outcome(_ start: Date, stoppedByBudget: Bool, signal: Int32?) -> Outcome {
        Outcome(step: trainer.step, stoppedByBudget: stoppedByBudget, stopSignal: signal,
                minutes: Date().timeIntervalSince(start) / 60, testBPD: metrics.last(where: { $0.testBPD != nil })?.testBPD)
    }

    /// Seconds to keep at the end of a time budget for the final evaluation of `testImages`
    /// (at the measured `evalRate`, or without one at three times the training rate: a
    /// forward pass is about a third of a training step), plus the samples and the save
    /// (5 s), with a quarter more for the variation of a shared machine.
    public static func finalWorkSeconds(testImages: Int, evalRate: Double?, trainRate: Double) -> Double {
        let rate = evalRate ?? 3 * trainRate
        let evaluation = testImages > 0 && rate > 0 && rate.isFinite ? Double(testImages) / rate : 0
        return 1.25 * evaluation + 5
    }

    /// Writes samples.png and samples-stepNNNNNN.png (with the EMA weights when there are
    /// any): one pair of rows per temperature. Returns a note per temperature whose samples
    /// were not finite (drawn as crossed placeholders).
    public func writeSamples(step: Int) throws -> [String] {
        try trainer.optimizer.swapEMA()
        defer { try? trainer.optimizer.swapEMA() }
        let c = model.config, perRow = 16
        // Class-conditional models: column j of the grid shows class j mod classes.
        let labels = c.classes > 0 ? (0..<perRow).map { ($0 % 8) % c.classes } : nil
        var pixels: [UInt8] = [], notFinite: [String] = []
        for t in Self.sampleTemperatures {
            let x = try model.sample(count: perRow, temperature: t, seed: 7, labels: labels).nchw()
            // An image whose reverse pass overflowed is drawn as a crossed placeholder.
            let (row, bad) = try Preprocess.toPixels(x, nBits: c.nBits, channels: c.channels, height: c.height, width: c.width)
            if !bad.isEmpty { notFinite.append("T = \(t): image\(bad.count > 1 ? "s" : "") \(bad.map(String.init).joined(separator: ", "))") }
            pixels += row
        }
        let count = perRow * Self.sampleTemperatures.count
        for path in [files.directory + "/samples.png", files.directory + String(format: "/samples-step%06d.png", step)] {
            try ImageGrid.write(path: path, images: pixels, count: count, channels: c.channels, height: c.height,
                                width: c.width, columns: 8)
        }
        return notFinite
    }
}
