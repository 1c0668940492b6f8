import Foundation

/// Settings of the optimizer (docs/glow-spec.md follows the official code: Adamax by default).
public struct OptimizerConfig: Sendable, Equatable {
    /// The update rule.
    public enum Kind: String, Sendable, CaseIterable { case adam, adamax }
    /// Adam or Adamax.
    public var kind: Kind = .adamax
    /// Peak learning rate.
    public var learningRate: Double = 1e-3
    /// β1.
    public var beta1: Double = 0.9
    /// β2.
    public var beta2: Double = 0.999
    /// ε.
    public var epsilon: Double = 1e-8
    /// Steps of linear warm-up from 0 to the peak learning rate.
    public var warmup: Int = 0
    /// Clip the global gradient norm to this value (nil: no clipping, or `adaptiveClip`).
    public var clip: Double? = nil
    /// Clip and skip from the recent range of norms instead of a fixed value (`--clip auto`,
    /// `SpikeGuard`).
    public var adaptiveClip = false
    /// Under `adaptiveClip`: clip at this multiple of the recent median norm, and skip above
    /// ten times it.
    public var adaptiveClipFactor: Double = 2
    /// Under `adaptiveClip`: after this many steps skipped in a row for their norm, clip the
    /// next instead of skipping it (`SpikeGuard.skipRun`; nil: no limit).
    public var skipRun: Int? = nil
    /// Decay of the exponential moving average of the weights (nil: none).
    public var ema: Double? = nil
    /// Let the EMA's decay grow with the updates: update `t` (0-based) uses
    /// `min(ema, (1 + t) / (10 + t))`, so the average follows the weights closely while they
    /// move fast and settles at `ema` later (0.9 after 80 updates, 0.99 after 890). A fixed
    /// decay from step 0 remembers the steep start of training for thousands of steps
    /// (docs/training.md: test bpd 4.59 at step 300 for 0.995, against 2.78 for the weights).
    /// Off only for training states written before it existed.
    public var emaWarmup = true
    /// Cap on each weight's step before the learning rate, `|m̂/(√v̂ + ε)|` (Adamax:
    /// `|m̂/(u + ε)|`), applied on the device (`StepScalars.updateClip`; nil: none). Adam's
    /// step is about 1 where a weight's gradient has kept its sign, and reaches
    /// `(1−β1)/√(1−β2)·√(1−β2^t)`, 3.2 late in training, when a gradient far above the
    /// weight's history arrives at once: a cap of 1 limits that jump without touching a step
    /// whose moments agree with its past (docs/training.md, "Capping each weight's step").
    public var updateClip: Double? = nil

    /// The defaults.
    public init() {}

    /// The EMA's decay at update `t` (0-based; nil without an EMA): `ema`, or under
    /// `emaWarmup` `min(ema, (1 + t) / (10 + t))`.
    public func emaDecay(atUpdate t: Int) -> Double? {
        guard let ema else { return nil }
        return emaWarmup ? min(ema, Double(1 + t) / Double(10 + t)) : ema
    }

    /// The learning rate at 0-based `step`.
    public func learningRate(at step: Int) -> Double {
        warmup > 0 ? learningRate * min(1, Double(step + 1) / Double(warmup)) : learningRate
    }

    /// Checks the values; the error names the option.
    public func validate() throws {
        if !(learningRate > 0 && learningRate.isFinite) { throw GlowError.invalid(.learningRate, value: "\(learningRate)", expected: "must be positive") }
        if !(beta2 > 0 && beta2 < 1) { throw GlowError.invalid(.beta2, value: "\(beta2)", expected: "must be in (0, 1), e.g. 0.999") }
        if warmup < 0 { throw GlowError.invalid(.warmup, value: "\(warmup)", expected: "must be 0 or more") }
        if let c = clip, !(c > 0) { throw GlowError.invalid(.clip, value: "\(c)", expected: "must be positive") }
        if clip != nil && adaptiveClip { throw GlowError("\(Setting.clip): a fixed value and auto at once") }
        if !(adaptiveClipFactor > 1 && adaptiveClipFactor.isFinite) {
            throw GlowError("\(Setting.clip) auto:\(adaptiveClipFactor): the multiple of the median must be above 1")
        }
        if let r = skipRun, r < 0 { throw GlowError.invalid(.skipRun, value: "\(r)", expected: "must be 0 or more") }
        if let e = ema, !(e > 0 && e < 1) { throw GlowError.invalid(.ema, value: "\(e)", expected: "must be in (0, 1), e.g. 0.999") }
        if let c = updateClip, !(c > 0 && c.isFinite) {
            throw GlowError.invalid(.updateClip, value: "\(c)", expected: "must be positive, e.g. 1")
        }
    }
}

/// Adam / Adamax on the device over the model's `ParameterArena`: the moments and the
/// EMA shadow are buffers of the arena's layout, the global gradient norm is one
/// reduction, and clipping, skip-on-non-finite, the update and the EMA are decided and
/// applied on the device (`stepDecide`, `arenaUpdate`) without the host waiting.
extension OptimizerConfig {
    /// A configuration's training recipe: the optimizer, the peak learning rate, the clipping
    /// (`auto`, `auto:K`, `none` or a norm), the guard's limit on skips in a row, and whether
    /// `--recover` is on. Every configuration: the adaptive guard with `skipRun` 1, since a run
    /// of skips freezes weights that give every batch a huge gradient (docs/training.md: 48 in
    /// a row without it, none with it). `mnist`: Adam at 1e-3, the best of the 300-step runs
    /// (test bpd 2.78 against 3.42 for Adamax), and `--recover`, whose policy, replayed on the
    /// recorded runs, fires on each run that diverged or stalled and on none of the default's
    /// 1,250-step ones, and an EMA of decay 0.995 (growing from 0.1, `emaWarmup`) for the
    /// evaluations and samples, better on the test set and far less prone to overflow when
    /// sampled at T = 1 than the weights it averages; the others: the official code's Adamax
    /// at 1e-3 without EMA, until runs say otherwise.
    public static func recipe(for configuration: String)
        -> (kind: Kind, learningRate: Double, clip: String, skipRun: Int?, recover: Bool, ema: Double?) {
        configuration == "mnist" ? (.adam, 1e-3, "auto", 1, true, 0.995) : (.adamax, 1e-3, "auto", 1, false, nil)
    }

    /// The clipping as `train --clip` spells it: `auto:K`, `none` or the norm (a whole K
    /// without its ".0"; every value reads back exactly).
    public var clipSetting: String {
        let k = adaptiveClipFactor
        return adaptiveClip ? "auto:" + (k == k.rounded() && abs(k) < 1e15 ? "\(Int(k))" : "\(k)") : clip.map { "\($0)" } ?? "none"
    }

    /// The settings a training state records beside the optimizer's kind (`lr`, `beta2`,
    /// `warmup`, `clip`, and `skip_run`, `ema`, `ema_warmup` and `update_clip` when set), so that a resumed run continues with them
    /// unless told otherwise, even where a later release changes a default. Doubles print so
    /// that they read back exactly.
    public var savedSettings: [String: String] {
        var settings = ["lr": "\(learningRate)", "beta2": "\(beta2)", "warmup": "\(warmup)", "clip": clipSetting]
        if let skipRun { settings["skip_run"] = "\(skipRun)" }
        if let ema { settings["ema"] = "\(ema)"; if emaWarmup { settings["ema_warmup"] = "1" } }
        if let updateClip { settings["update_clip"] = "\(updateClip)" }
        return settings
    }
}

public final class Optimizer<B: Backend> {
    /// The settings.
    public let config: OptimizerConfig
    /// Updates applied so far (skipped steps excluded).
    public private(set) var step = 0
    let backend: B
    /// The model's arena.
    public let arena: ParameterArena<B>
    var parameters: [Parameter<B>] { arena.parameters }
    /// The moments and, with EMA, the shadow weights, laid out as the arena.
    public let m: B.Buffer, v: B.Buffer, ema: B.Buffer?

    /// An optimizer for the trainable parameters of `model`.
    public init(_ model: Glow<B>, config: OptimizerConfig) throws {
        try config.validate()
        self.config = config; backend = model.backend
        arena = model.arena
        m = try backend.zeros(arena.count); v = try backend.zeros(arena.count)
        if config.ema != nil {
            let e = try backend.allocate(arena.count)
            try backend.copy2D(arena.values, srcOffset: 0, srcStride: 0, e, dstOffset: 0, dstStride: 0, rows: 1, cols: arena.count)
            ema = e
        } else {
            ema = nil
        }
    }

    /// Bias corrections `1/(1-β1^t)`, `1/(1-β2^t)` of update number `t`.
    private func corrections(_ t: Int) -> (Float, Float) {
        (Float(1 / (1 - pow(config.beta1, Double(t)))), Float(1 / (1 - pow(config.beta2, Double(t)))))
    }

    /// The per-step values of the next update at learning rate `lr` (its bias corrections,
    /// the clipping threshold: the fixed `clip`, or `thresholds` under `adaptiveClip`, the
    /// EMA's rate, `1 − emaDecay(atUpdate:)` of the updates applied so far, and `updateClip`),
    /// with `noise` for the batch: what the host writes into the step's `StepScalars` buffer
    /// before enqueueing (or replaying) the step.
    public func scalars(learningRate lr: Double, noise: DequantizationNoise?,
                        thresholds: (clip: Float, skip: Float) = (0, 0)) -> StepScalars {
        let (c1, c2) = corrections(step + 1)
        let fixed = Float(config.clip ?? 0)
        return StepScalars(learningRate: Float(lr), correction1: c1, correction2: c2,
                           clip: config.adaptiveClip ? thresholds.clip : fixed, noise: noise,
                           skipAbove: config.adaptiveClip ? thresholds.skip : 0,
                           emaRate: config.emaDecay(atUpdate: step).map { Float(1 - $0) } ?? 0,
                           updateClip: Float(config.updateClip ?? 0))
    }

    /// Enqueues the step's update from the gradients in the arena: Σ g² into `record[0]`,
    /// the decision (clip factor, applied or skipped) and the update of the whole arena,
    /// with the learning rate, bias corrections and threshold read from the device buffer
    /// `scalars` (`scalars(learningRate:noise:)`). Nothing waits; call `finish(applied:)`
    /// with what the record says.
    public func enqueueUpdate(record: StepRecord<B>, scalars: B.Buffer) throws {
        let g = try arena.gradients()
        try backend.sumOfSquares(g, count: arena.count, out: record.buffer, outIndex: 0)
        try backend.stepDecide(record: record.buffer, scalars: scalars)
        try backend.arenaUpdate(arena.values, gradients: g, m: m, v: v, ema: ema, record: record.buffer, scalars: scalars,
                                count: arena.count, beta1: Float(config.beta1), beta2: Float(config.beta2),
                                epsilon: Float(config.epsilon), adamax: config.kind == .adamax)
    }

    /// Counts the update enqueued by `enqueueUpdate` when the record says it was applied.
    public func finish(applied: Bool) {
        if applied { step += 1 }
    }

    /// The copy `Recovery` rolls back to: the weights, the moments, the EMA and the update count.
    struct Snapshot { let values: B.Buffer, m: B.Buffer, v: B.Buffer, ema: B.Buffer?; var step: Int }
    private(set) var snapshot: Snapshot?

    /// The arena buffers and the snapshot's, pairwise (the EMA when there is one).
    private func pairs(_ s: Snapshot) -> [(live: B.Buffer, copy: B.Buffer)] {
        [(arena.values, s.values), (m, s.m), (v, s.v)] + (ema.flatMap { e in s.ema.map { (e, $0) } }.map { [$0] } ?? [])
    }

    /// Zeroed buffers for a copy: a restored copy fills the tensors' slots only, and the
    /// arena's padding between them must read as the live arena's does.
    private func newSnapshot() throws -> Snapshot {
        Snapshot(values: try backend.zeros(arena.count), m: try backend.zeros(arena.count),
                 v: try backend.zeros(arena.count), ema: ema == nil ? nil : try backend.zeros(arena.count), step: step)
    }

    /// Copies the weights, moments and EMA on the device (one copy of the arena each, no wait).
    public func takeSnapshot() throws {
        var s = try snapshot ?? newSnapshot()
        for (live, copy) in pairs(s) {
            try copyArena(live, to: copy)
        }
        s.step = step
        snapshot = s
    }

    /// Restores the last `takeSnapshot` (weights, moments, EMA, update count).
    public func rollBack() throws {
        guard let s = snapshot else { throw GlowError("recovery: no copy of the weights to roll back to") }
        for (live, copy) in pairs(s) {
            try copyArena(copy, to: live)
        }
        step = s.step
    }

    /// Copies one buffer of the arena's layout onto another, on the device.
    private func copyArena(_ source: B.Buffer, to destination: B.Buffer) throws {
        try backend.copy2D(source, srcOffset: 0, srcStride: 0, destination, dstOffset: 0, dstStride: 0, rows: 1, cols: arena.count)
    }

    /// Starts the EMA again from the live weights (no-op without EMA): after ActNorm's
    /// data-dependent initialisation, and when a run trained without EMA is resumed with it.
    public func restartEMA() throws {
        guard let ema else { return }
        try copyArena(arena.values, to: ema)
    }

    /// Swaps the live weights with their EMA (call twice to swap back): three copies of the
    /// arena. Nothing is derived from the weights between passes, so evaluation and
    /// sampling then use the EMA weights throughout; no-op without EMA.
    public func swapEMA() throws {
        guard let ema else { return }
        let t = try backend.allocate(arena.count)
        try copyArena(arena.values, to: t)
        try copyArena(ema, to: arena.values)
        try copyArena(t, to: ema)
    }

    /// The state as tensors (`m.<name>`, `v.<name>`, `ema.<name>`, per tensor as in
    /// docs/glow-spec.md) plus the step.
    public func state(into file: inout SafeTensorsFile) throws {
        file.metadata["optimizer_step"] = String(step)
        for (p, o) in zip(parameters, arena.offsets) {
            try file.add("m." + p.name, shape: p.shape, floats: try backend.download(m, offset: o, count: p.count))
            try file.add("v." + p.name, shape: p.shape, floats: try backend.download(v, offset: o, count: p.count))
            if let ema { try file.add("ema." + p.name, shape: p.shape, floats: try backend.download(ema, offset: o, count: p.count)) }
        }
        if let s = snapshot {
            file.metadata["snapshot_optimizer_step"] = String(s.step)
            for (prefix, buffer) in snapshotTensors(s) {
                for (p, o) in zip(parameters, arena.offsets) {
                    try file.add(prefix + p.name, shape: p.shape, floats: try backend.download(buffer, offset: o, count: p.count))
                }
            }
        }
    }

    /// The snapshot's buffers by tensor-name prefix in the training state.
    private func snapshotTensors(_ s: Snapshot) -> [(String, B.Buffer)] {
        [("snapshot.", s.values), ("snapshot.m.", s.m), ("snapshot.v.", s.v)] + (s.ema.map { [("snapshot.ema.", $0)] } ?? [])
    }

    /// Restores what `state(into:)` saved. A state saved without EMA, restored with it, starts
    /// the EMA from the weights (and the snapshot's from the snapshot's weights).
    public func restore(from file: SafeTensorsFile, source: String) throws {
        guard let s = file.metadata["optimizer_step"], let n = Int(s) else {
            throw GlowError("\(source): no optimizer_step in the training state")
        }
        step = n
        let savedEMA = file.holdsEMA
        do {
            for (p, o) in zip(parameters, arena.offsets) {
                try backend.upload(try file.requireFloats("m." + p.name, shape: p.shape), to: m, offset: o)
                try backend.upload(try file.requireFloats("v." + p.name, shape: p.shape), to: v, offset: o)
                if let ema, savedEMA {
                    try backend.upload(try file.requireFloats("ema." + p.name, shape: p.shape), to: ema, offset: o)
                }
            }
            if !savedEMA { try restartEMA() }
            snapshot = nil
            if let text = file.metadata["snapshot_optimizer_step"] {
                guard let n = Int(text), n >= 0 else { throw GlowError("\(source): snapshot_optimizer_step \"\(text)\" is not a count") }
                var s = try newSnapshot()
                s.step = n
                for (prefix, buffer) in snapshotTensors(s) where savedEMA || prefix != "snapshot.ema." {
                    for (p, o) in zip(parameters, arena.offsets) {
                        try backend.upload(try file.requireFloats(prefix + p.name, shape: p.shape), to: buffer, offset: o)
                    }
                }
                if !savedEMA, let e = s.ema {
                    try copyArena(s.values, to: e)
                }
                snapshot = s
            }
        } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
    }
}

extension SafeTensorsFile {
    /// Whether this training state holds an EMA of the weights (`ema.<name>` tensors).
    public var holdsEMA: Bool { tensors.contains { $0.name.hasPrefix("ema.") } }
}
