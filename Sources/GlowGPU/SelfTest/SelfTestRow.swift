import Foundation

/// One line of a self-test: an operation (a `Backend` method name, or `model.…` for the
/// whole-model checks), the shape and options it ran with, its largest error against the
/// reference backend, and the tolerance that error had to stay within.
public struct SelfTestRow: Sendable, Equatable {
    /// The backend method (`gemm`, `rowSums`, …) or model check (`model.encode`, …).
    public let op: String
    /// Sizes and options, e.g. `67×131×45 NT β=0.5`.
    public let shape: String
    /// The largest error of the measure the row uses (∞ for NaN, a size mismatch, or a
    /// write outside the output region).
    public let maxRelativeError: Double
    /// The largest error that passes.
    public let tolerance: Double
    /// Why the row could not run (the operation threw), or nil.
    public let failure: String?

    /// Creates a row.
    public init(op: String, shape: String, maxRelativeError: Double, tolerance: Double, failure: String? = nil) {
        self.op = op; self.shape = shape; self.maxRelativeError = maxRelativeError
        self.tolerance = tolerance; self.failure = failure
    }

    /// True when the operation ran and its error is within the tolerance.
    public var ok: Bool { failure == nil && maxRelativeError <= tolerance }
}

/// All rows of a self-test of one backend against a reference backend.
public struct SelfTestReport: Sendable {
    /// The backend under test.
    public let device: String
    /// The backend it was compared with.
    public let reference: String
    /// One row per operation and shape, in the order they ran.
    public let rows: [SelfTestRow]
    /// Wall time of the whole test.
    public let seconds: Double

    /// True when every row passed.
    public var ok: Bool { rows.allSatisfy(\.ok) }
    /// The rows that failed.
    public var failures: [SelfTestRow] { rows.filter { !$0.ok } }

    /// The table's heading line.
    public static let header = pad("op", 24) + "  " + pad("shape", 44) + "  max rel err  tolerance  ok"

    /// One row as a table line (fixed widths, so rows can be printed as they complete).
    public static func line(_ r: SelfTestRow) -> String {
        var line = pad(r.op, 24) + "  " + pad(r.shape, 44) + "  " + pad(number(r.maxRelativeError), 11) + "  "
            + pad(number(r.tolerance), 9) + "  " + (r.ok ? "ok" : "FAIL")
        if let f = r.failure { line += "  (\(f))" }
        return line
    }

    /// The closing summary line.
    public var summary: String {
        String(format: "%d rows, %d failed, %.1f s: %@", rows.count, failures.count, seconds, ok ? "PASS" : "FAIL")
    }

    /// The whole report as a table: title, heading, one line per row, summary.
    public func table() -> String {
        (["selftest \(device) against \(reference)", SelfTestReport.header] + rows.map(SelfTestReport.line) + [summary])
            .joined(separator: "\n")
    }

    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }

    /// One JSON object: device, reference, ok, rows, failed, seconds and `results` (one
    /// object per row; JSON has no infinity or NaN, so a non-finite error is null, and fails).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return "inf" }
        return v == 0 ? "0" : String(format: "%.2e", v)
    }
}

extension SelfTestReport: Encodable {
    enum Key: String, CodingKey { case device, reference, ok, rows, failed, seconds, results }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(device, forKey: .device)
        try c.encode(reference, forKey: .reference)
        try c.encode(ok, forKey: .ok)
        try c.encode(rows.count, forKey: .rows)
        try c.encode(failures.count, forKey: .failed)
        try c.encode((seconds * 100).rounded() / 100, forKey: .seconds)
        try c.encode(rows, forKey: .results)
    }
}

extension SelfTestRow: Encodable {
    enum Key: String, CodingKey { case op, shape, max_rel_err, tolerance, ok, error }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        /// Four significant digits; null when not finite.
        func number(_ v: Double, _ key: Key) throws {
            if v.isFinite { try c.encode(Double(String(format: "%.3e", v)) ?? v, forKey: key) } else { try c.encodeNil(forKey: key) }
        }
        try c.encode(op, forKey: .op)
        try c.encode(shape, forKey: .shape)
        try number(maxRelativeError, .max_rel_err)
        try number(tolerance, .tolerance)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(failure, forKey: .error)
    }
}
