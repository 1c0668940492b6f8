import Foundation

/// Falling back to the last good weights (`--recover`): a slow degradation that `SpikeGuard`
/// cannot catch step by step. The trainer keeps, on the device, a copy of the weights and
/// optimizer state taken every `snapshotEvery` steps while the `window`-step mean train bpd is
/// near its best; when that mean stays more than `rise` above its best for `patience` steps in
/// a row, it restores the copy and scales the learning rate by `learningRateFactor` (at most
/// `maxRollbacks` times). The data order goes on: a rolled-back run sees new batches.
///
/// The state (the window, the best mean, the counters) goes into the training state with the
/// copy itself, so a resumed run continues bitwise.
public struct Recovery: Sendable, Equatable {
    /// Steps in the mean of train bpd.
    public var window = 20
    /// How far above its best the mean may rise before steps count as bad.
    public var rise = 0.5
    /// Bad steps in a row that roll the weights back.
    public var patience = 20
    /// Steps between copies (a copy is taken only while the mean is within `rise / 2` of its
    /// best). A copy is one device-to-device pass over the weights and moments (34 MB for
    /// `mnist`, 45 MB with an EMA), against a step's ~100 passes, so copies can be frequent: a run that falls
    /// over early still has a good one.
    public var snapshotEvery = 10
    /// What a rollback multiplies the learning rate by.
    public var learningRateFactor = 0.5
    /// Rollbacks allowed in a run.
    public var maxRollbacks = 4

    /// The train bpd of the most recent steps, oldest first.
    public private(set) var recent: [Double] = []
    /// The lowest mean seen.
    public private(set) var best = Double.infinity
    /// Bad steps in a row.
    public private(set) var bad = 0
    /// Rollbacks so far.
    public private(set) var rollbacks = 0
    /// The learning rate's scale (`learningRateFactor` ^ rollbacks).
    public private(set) var learningRateScale = 1.0
    /// The step the copy was taken after (nil: none yet).
    public private(set) var snapshotStep: Int?

    /// What the trainer must do after a step.
    public enum Action: Sendable, Equatable {
        case none
        /// Copy the weights and optimizer state.
        case snapshot
        /// Restore the copy (taken after `snapshotStep`) and lower the learning rate.
        case rollBack(to: Int)
    }

    /// A policy with the defaults.
    public init() {}

    /// The mean of `recent` (nil until the window is full).
    public var mean: Double? { recent.count == window ? recent.reduce(0, +) / Double(window) : nil }

    /// Takes the train bpd of step `step` (1-based, after the update) and says what to do.
    public mutating func observe(bpd: Double, step: Int) -> Action {
        if bpd.isFinite {
            recent.append(bpd)
            if recent.count > window { recent.removeFirst(recent.count - window) }
        }
        guard let mean else { return .none }
        best = min(best, mean)
        bad = mean > best + rise ? bad + 1 : 0
        if bad >= patience, let s = snapshotStep, rollbacks < maxRollbacks {
            rollbacks += 1
            learningRateScale *= learningRateFactor
            bad = 0
            recent = []   // the restored weights start a new window
            return .rollBack(to: s)
        }
        if step % snapshotEvery == 0 && mean <= best + rise / 2 {
            snapshotStep = step
            return .snapshot
        }
        return .none
    }

    /// The state as training-state metadata: numbers as bit patterns, so a resume is exact.
    public var metadata: String {
        let head = [best.bitPattern, learningRateScale.bitPattern].map { String($0, radix: 16) }
            + [String(bad), String(rollbacks), snapshotStep.map(String.init) ?? "-"]
        return (head + recent.map { String($0.bitPattern, radix: 16) }).joined(separator: ",")
    }

    /// Restores what `metadata` wrote.
    /// - Throws: `GlowError` naming `source` when the text is not such a state.
    public mutating func restore(metadata text: String, source: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func fail() -> GlowError { GlowError("\(source): recovery holds \"\(text.prefix(60))\", not a recovery state") }
        guard parts.count >= 5, let b = UInt64(parts[0], radix: 16), let l = UInt64(parts[1], radix: 16),
              let n = Int(parts[2]), let r = Int(parts[3]), n >= 0, r >= 0 else { throw fail() }
        var values: [Double] = []
        for p in parts.dropFirst(5) {
            guard let bits = UInt64(p, radix: 16), Double(bitPattern: bits).isFinite else { throw fail() }
            values.append(Double(bitPattern: bits))
        }
        guard parts[4] == "-" || Int(parts[4]) != nil else { throw fail() }
        best = Double(bitPattern: b); learningRateScale = Double(bitPattern: l); bad = n; rollbacks = r
        snapshotStep = Int(parts[4]); recent = Array(values.suffix(window))
    }
}
