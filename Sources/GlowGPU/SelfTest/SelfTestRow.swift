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

    /// One JSON object: device, reference, ok, seconds and the rows.
    public func json() -> String {
        func str(_ s: String) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default:
                    if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
                }
            }
            return out + "\""
        }
        // JSON has no infinity or NaN: a non-finite error is written as null (and fails).
        func num(_ v: Double) -> String { v.isFinite ? String(format: "%.3e", v) : "null" }
        let rowText = rows.map { r in
            "{\"op\": \(str(r.op)), \"shape\": \(str(r.shape)), \"max_rel_err\": \(num(r.maxRelativeError)), "
                + "\"tolerance\": \(num(r.tolerance)), \"ok\": \(r.ok)"
                + (r.failure.map { ", \"error\": \(str($0))" } ?? "") + "}"
        }
        return "{\"device\": \(str(device)), \"reference\": \(str(reference)), \"ok\": \(ok), "
            + "\"rows\": \(rows.count), \"failed\": \(failures.count), \"seconds\": \(String(format: "%.2f", seconds)), "
            + "\"results\": [\n  " + rowText.joined(separator: ",\n  ") + "\n]}"
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return "inf" }
        return v == 0 ? "0" : String(format: "%.2e", v)
    }
}
