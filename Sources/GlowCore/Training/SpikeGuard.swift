import Foundation

/// Clipping and skipping from the recent range of gradient norms (`--clip auto`, or
/// `--clip auto:K` for another `clipFactor`; the trainer sets `skipFactor` to 10 × K): a step
/// whose global gradient norm is above `clipFactor` × the median of the last `window`
/// steps' norms is scaled down to that threshold, and one above `skipFactor` × the median is
/// not applied at all. Skipped steps' norms join the window too, so a lasting change of
/// scale moves the median within half a window instead of skipping every step. Both thresholds reach the device in the step's
/// `StepScalars` (slots 3 and 10) and `stepDecide` acts on them there, so the host still
/// waits once per step and a recorded step replays with each step's thresholds. The policy
/// acts from step 1: until `minimumHistory` norms are known the thresholds are off.
///
/// A run of skips is not a spike passing but weights that give every new batch a huge
/// gradient: skipping them all leaves the weights where they are, and the run stalls there
/// until the median catches up (docs/training.md saw 48 skips in a row at train bpd 11, and a
/// recovery within three steps of the first clipped one). With `skipRun` set, after that many
/// steps skipped in a row for their norm the next is clipped instead.
///
/// The state is the window of norms and the skips in a row; `metadata` writes it into the
/// training state (each norm exactly, as its bit pattern) so that a resumed run continues
/// bitwise.
public struct SpikeGuard: Sendable, Equatable {
    /// The pre-clipping norms of the most recent steps, oldest first.
    public private(set) var recent: [Float] = []
    /// How many norms the median is taken over.
    public var window = 100
    /// Clip at this multiple of the median norm.
    public var clipFactor: Float = 2
    /// Skip a step whose norm is above this multiple of the median.
    public var skipFactor: Float = 20
    /// Norms needed before the thresholds act.
    public var minimumHistory = 10
    /// Steps skipped in a row for their norm after which the next is clipped, not skipped
    /// (nil: no limit).
    public var skipRun: Int?
    /// Steps skipped for their norm since the last applied one.
    public private(set) var skipsInARow = 0

    /// A guard with no history.
    public init() {}

    /// The median of the recent norms (nil before `minimumHistory` of them).
    public var median: Float? {
        guard recent.count >= max(1, minimumHistory) else { return nil }
        let s = recent.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The clipping threshold and the skip threshold for the next step (0: none).
    public var thresholds: (clip: Float, skip: Float) {
        guard let m = median, m > 0, m.isFinite else { return (0, 0) }
        let skipping = skipRun.map { skipsInARow < $0 } ?? true
        return (clipFactor * m, skipping ? skipFactor * m : 0)
    }

    /// Adds a step's norm (before clipping), and whether the step was skipped; a non-finite
    /// norm is left out of the window, and a step skipped for it is not counted as skipped
    /// for its norm.
    public mutating func add(norm: Float, skipped: Bool = false) {
        guard norm.isFinite else { return }
        skipsInARow = skipped ? skipsInARow + 1 : 0
        recent.append(norm)
        if recent.count > window { recent.removeFirst(recent.count - window) }
    }

    /// The state as training-state metadata: the norms' bit patterns in hexadecimal, then
    /// `;` and the skips in a row when there are any.
    public var metadata: String {
        recent.map { String($0.bitPattern, radix: 16) }.joined(separator: ",") + (skipsInARow > 0 ? ";\(skipsInARow)" : "")
    }

    /// Restores the state `metadata` wrote.
    /// - Throws: `GlowError` naming `source` when the text is not such a list.
    public mutating func restore(metadata full: String, source: String) throws {
        var text = Substring(full)
        skipsInARow = 0
        if let semicolon = full.lastIndex(of: ";") {
            guard let n = Int(full[full.index(after: semicolon)...]), n > 0 else {
                throw GlowError("\(source): spike_guard ends in \"\(full[semicolon...])\", not a count of skips")
            }
            skipsInARow = n; text = full[..<semicolon]
        }
        if text.isEmpty { recent = []; return }
        var norms: [Float] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let bits = UInt32(part, radix: 16), Float(bitPattern: bits).isFinite else {
                throw GlowError("\(source): spike_guard holds \"\(part)\", not a norm's bit pattern")
            }
            norms.append(Float(bitPattern: bits))
        }
        recent = Array(norms.suffix(window))
    }
}
