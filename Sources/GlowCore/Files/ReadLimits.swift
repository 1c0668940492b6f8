import Foundation

/// Limits that sizes read from a file are checked against before anything is allocated.
public enum ReadLimits {
    /// Deflate's largest possible expansion: 258 output bytes per 2 input bits. No gzip
    /// file (or PNG image data) inflates to more than this many times its own length.
    public static let maxDeflateRatio = 1032

    /// Bytes of memory a single read may take: the `MemAvailable` of `/proc/meminfo`
    /// (the physical memory where that cannot be read). Read anew on every call, since
    /// it changes while the program runs.
    public static func memoryBudget() -> Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kb = Int(fields[1]) {
                    let (bytes, overflow) = kb.multipliedReportingOverflow(by: 1024)
                    return overflow ? Int.max : bytes
                }
            }
        }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// `n` bytes in a short human form (`47.0 MB`, `8.00 GB`).
    static func describe(_ n: Int) -> String {
        if n < 10_000 { return "\(n) bytes" }
        if n < 1_000_000 { return String(format: "%.1f kB", Double(n) / 1e3) }
        if n < 1_000_000_000 { return String(format: "%.1f MB", Double(n) / 1e6) }
        return String(format: "%.2f GB", Double(n) / 1e9)
    }
}
