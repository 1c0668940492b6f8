import Foundation

/// Progress on long work: a bar redrawn in place on a terminal, plain lines (at most one
/// every few seconds) when standard output is a file or pipe.
final class Progress {
    let total: Int
    let label: String
    /// Work already done when the bar started (the step a resumed run starts from): the ETA
    /// is the time per unit done since then, times the units left.
    let first: Int
    let start = Date()
    let isTerminal = isatty(STDOUT_FILENO) != 0
    private var lastPlain = Date.distantPast
    private var lastDraw = Date.distantPast

    /// When set, the ETA is never later than this (a time budget such as `train --minutes`).
    var deadline: Date?

    init(total: Int, label: String, first: Int = 0, deadline: Date? = nil) {
        self.total = total; self.label = label; self.first = first; self.deadline = deadline
    }

    /// Redraws with `done` of `total` finished and `detail` after the bar; `force` prints a
    /// plain line even when one was printed recently.
    func update(_ done: Int, _ detail: String, force: Bool = false) {
        if InProcessRanks.isQuietThread { return }
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        var eta = done > first ? elapsed / Double(done - first) * Double(max(total - done, 0)) : .nan
        if let deadline { eta = min(eta.isNaN ? .infinity : eta, max(0, deadline.timeIntervalSince(now))) }
        if isTerminal {
            if !force && now.timeIntervalSince(lastDraw) < 0.1 && done < total { return }
            lastDraw = now
            let width = 24
            // Under a time budget the bar fills with the time spent, which is what will end
            // the work long before `total` (steps) is reached.
            let fraction = deadline.map { d in min(1, elapsed / max(d.timeIntervalSince(start), 1e-9)) }
                ?? (total > 0 ? Double(done) / Double(total) : 0)
            let filled = min(width, Int(Double(width) * max(fraction, total > 0 ? Double(done) / Double(total) : 0)))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let budget = deadline.map { " · \(Progress.duration(elapsed)) of \(Progress.duration($0.timeIntervalSince(start)))" } ?? ""
            let line = "\(label) \(done)/\(total)\(budget) \(bar) \(detail)  ETA \(Progress.duration(eta))"
            // stdio, not FileHandle.write (which traps when the write fails, e.g. a closed terminal).
            fputs("\r\u{1B}[K" + line + (done >= total ? "\n" : ""), stdout)
            fflush(stdout)
        } else if force || now.timeIntervalSince(lastPlain) >= 5 || done >= total {
            lastPlain = now
            print("\(label) \(done)/\(total) \(detail)  elapsed \(Progress.duration(elapsed))  ETA \(Progress.duration(eta))")
            fflush(stdout)
        }
    }

    /// Ends a bar line so normal printing can continue.
    func interrupt() {
        if isTerminal && !InProcessRanks.isQuietThread { fputs("\n", stdout); fflush(stdout) }
    }

    static func duration(_ s: Double) -> String {
        // Past a million hours (a huge --steps or --minutes) Int(s) could overflow: no estimate.
        guard s.isFinite, abs(s) < 3.6e9 else { return "--" }
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" }
        if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t)s"
    }
}
