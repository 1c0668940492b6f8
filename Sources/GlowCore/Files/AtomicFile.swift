import Foundation

/// Writing files so that a crash, a `kill -9` or a full disk leaves either the old file or
/// the new one, never a torn mix, and every failure is a thrown `GlowError` naming the file
/// and the system's reason.
///
/// A write goes to `"<path>.tmp-<pid>"`, is fsynced, renamed over `path`, and the folder is
/// fsynced. `removeStaleTemporaries(in:)` removes the temporaries a killed process left.
///
/// For tests, the environment variable `GLOW_FAIL_WRITES` injects write failures:
/// a comma-separated list of `SUBSTRING` or `SUBSTRING@N`; the N-th and every later write
/// (default N = 1) to a path containing SUBSTRING fails with `ENOSPC`, as on a full disk.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = try stage(bytes, for: path)
        try install(tmp, as: path)
    }

    /// Writes `bytes` to `path`'s temporary `"<path>.tmp-<pid>"` and fsyncs it, without
    /// installing it; returns the temporary's path (removed again on failure).
    public static func stage(_ bytes: [UInt8], for path: String) throws -> String {
        let tmp = "\(path).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "cannot create \(tmp)", errno) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(tmp) }
        }
        try writeAll(fd, bytes, path: path, label: "cannot write \(tmp)")
        guard fsync(fd) == 0 else { throw failure(path, "cannot fsync \(tmp)", errno) }
        ok = true
        return tmp
    }

    /// Renames the staged `tmp` over `path` and makes the rename durable.
    public static func install(_ tmp: String, as path: String) throws {
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw failure(path, "cannot rename \(tmp) over it", e)
        }
        syncDirectory(of: path)
    }

    /// Renames `from` to `to` (replacing it) when `from` exists; false when it does not.
    @discardableResult
    public static func move(_ from: String, to: String) throws -> Bool {
        if rename(from, to) == 0 { return true }
        let e = errno
        if e == ENOENT { return false }
        throw failure(from, "cannot rename it to \(to)", e)
    }

    /// Appends `bytes` to `path` (created when missing) as one write; on failure the file is
    /// cut back to its previous length, so no torn line is left, and a `GlowError` is thrown.
    public static func append(_ bytes: [UInt8], to path: String, truncateFirst: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncateFirst ? O_TRUNC : O_APPEND), 0o644)
        guard fd >= 0 else { throw failure(path, "cannot open for appending", errno) }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        do {
            try writeAll(fd, bytes, path: path, label: "cannot append")
        } catch {
            if size >= 0 { _ = ftruncate(fd, size) }
            throw error
        }
    }

    /// Removes `"<name>.tmp-<pid>"` files in `directory` whose process no longer runs (left by
    /// a killed save); returns their names.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names {
            guard let r = name.range(of: ".tmp-", options: .backwards),
                  let pid = Int32(name[r.upperBound...]), pid > 0 else { continue }
            if pid == getpid() { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }   // that process still runs
            if unlink(directory + "/" + name) == 0 { removed.append(name) }
        }
        return removed
    }

    // MARK: Internals

    static func failure(_ path: String, _ what: String, _ code: Int32) -> GlowError {
        GlowError("\(path): \(what): \(String(cString: strerror(code)))")
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String, label: String) throws {
        if FaultInjection.shared.shouldFail(path) { throw failure(path, label, ENOSPC) }
        try bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var done = 0
            while done < raw.count {
                let w = Foundation.write(fd, base + done, raw.count - done)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw failure(path, label, errno)
                }
                if w == 0 { throw failure(path, label, EIO) }
                done += w
            }
        }
    }

    private static func syncDirectory(of path: String) {
        // Some filesystems cannot fsync a folder; the data itself is already on disk there.
        var dir = (path as NSString).deletingLastPathComponent
        if dir.isEmpty { dir = "." }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// The `GLOW_FAIL_WRITES` test hook of `AtomicFile`.
final class FaultInjection: @unchecked Sendable {
    static let shared = FaultInjection(ProcessInfo.processInfo.environment["GLOW_FAIL_WRITES"] ?? "")

    private let rules: [(substring: String, from: Int)]
    private var counts: [Int]
    private let lock = NSLock()

    init(_ spec: String) {
        rules = spec.split(separator: ",").compactMap { part in
            let p = part.split(separator: "@", maxSplits: 1).map(String.init)
            guard let s = p.first, !s.isEmpty else { return nil }
            return (s, p.count > 1 ? max(1, Int(p[1]) ?? 1) : 1)
        }
        counts = Array(repeating: 0, count: rules.count)
    }

    /// Counts a write to `path` and says whether it is to fail.
    func shouldFail(_ path: String) -> Bool {
        if rules.isEmpty { return false }
        lock.lock(); defer { lock.unlock() }
        var fail = false
        for (i, r) in rules.enumerated() where path.contains(r.substring) {
            counts[i] += 1
            if counts[i] >= r.from { fail = true }
        }
        return fail
    }
}
