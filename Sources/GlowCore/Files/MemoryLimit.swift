import Foundation

/// Checks sizes that come from options, files and configurations before anything is
/// allocated: products are computed with overflow checks and compared with the machine's
/// physical memory, so a request that cannot fit is a named error instead of an abort.
public enum MemoryLimit {
    /// Physical memory of this machine in bytes (`Int.max` when unknown).
    public static let physicalBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return .max }
        return Sizes.product(pages, size) ?? .max
    }()

    /// The sum of `terms`, or nil when it overflows (or a term is nil or negative).
    public static func sum(_ terms: [Int?]) -> Int? {
        var s = 0
        for t in terms {
            guard let t, t >= 0 else { return nil }
            let (r, o) = s.addingReportingOverflow(t)
            if o { return nil }
            s = r
        }
        return s
    }

    /// Throws unless `elements` (their product) × `bytesEach` bytes fit in physical memory.
    /// - Parameter what: names the request in the error, e.g. "60000 images of 1×100000×100000".
    public static func check(elements: [Int], bytesEach: Int, what: String) throws {
        try check(bytes: Sizes.product(elements + [bytesEach]), what: what)
    }

    /// Throws unless `bytes` (nil: overflowed) fit in physical memory.
    public static func check(bytes: Int?, what: String) throws {
        guard let bytes else { throw GlowError("\(what): the size is past the largest integer") }
        if bytes > physicalBytes {
            throw GlowError("\(what): needs \(format(bytes)) but this machine has \(format(physicalBytes)) of memory")
        }
    }

    /// `bytes` for a person, e.g. "3.2 GB".
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e12 { return String(format: "%.3g TB", b / 1e12) }
        if b >= 1e9 { return String(format: "%.3g GB", b / 1e9) }
        if b >= 1e6 { return String(format: "%.3g MB", b / 1e6) }
        return "\(bytes) bytes"
    }
}
