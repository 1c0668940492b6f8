import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a run folder, so two `train` processes never write one `--out`:
/// `flock` on `DIR/.lock`, which holds the owner's process id. The kernel drops the lock
/// when the process ends, however it ends, so a crashed run never leaves a stale lock.
public final class RunLock {
    private let fd: Int32
    /// The lock file.
    public let path: String

    /// Takes the lock of `directory` (created if missing), or throws naming the process
    /// that holds it.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(".lock")
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw GlowError("\(directory): cannot create the run lock \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw GlowError("\(directory) is in use by another glow-gpu train (process \(holder.isEmpty ? "unknown" : holder)); "
                + "wait for it to finish, stop it, or choose another \(Setting.out)")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
