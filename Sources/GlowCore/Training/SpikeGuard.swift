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
/// The state is the window of norms; `metadata` writes it into the training state (each
/// norm exactly, as its bit pattern) so that a resumed run continues bitwise.
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
        return (clipFactor * m, skipFactor * m)
    }

    /// Adds a step's norm (before clipping); a non-finite one is left out.
    public mutating func add(norm: Float) {
        guard norm.isFinite else { return }
        recent.append(norm)
        if recent.count > window { recent.removeFirst(recent.count - window) }
    }

    /// The state as training-state metadata: the norms' bit patterns in hexadecimal.
    public var metadata: String { recent.map { String($0.bitPattern, radix: 16) }.joined(separator: ",") }

    /// Restores the norms `metadata` wrote.
    /// - Throws: `GlowError` naming `source` when the text is not such a list.
    public mutating func restore(metadata text: String, source: String) throws {
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
