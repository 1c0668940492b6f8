import Foundation
import GlowCore

/// How many threads the CPU backend runs: `--threads N` when given, else the cores this
/// process may use — its affinity mask (`sched_getaffinity`) capped by its cgroup's CPU quota
/// (`/sys/fs/cgroup/cpu.max`, or cgroup v1's `cpu.cfs_quota_us`) — and, for one of several
/// processes on a machine (MPI ranks), that process's share of them.
///
/// The count changes the speed only: every operation of the CPU backend splits its work in a
/// way that depends on the operation's sizes alone (`CPUPartition`), so results are bitwise
/// the same for any count.
public enum CPUThreads {
    /// The count a `CPUBackend` made without one uses (`--threads`); nil: `available()`, or
    /// `share(localSize:)` for an MPI rank.
    nonisolated(unsafe) public static var requested: Int?

    /// The most threads accepted (`--threads` above it is an error).
    public static let maximum = 1024

    /// Checks a requested count.
    public static func validate(_ n: Int) throws {
        guard n >= 1, n <= maximum else {
            throw GlowError.invalid(.threads, value: "\(n)", expected: "expected a thread count from 1 to \(maximum)")
        }
    }

    /// The processors the machine has online.
    public static var machineProcessors: Int { max(1, ProcessInfo.processInfo.processorCount) }

    /// Cores this process may run on: the affinity mask capped by the cgroup quota, at least 1.
    public static func available() -> Int {
        let affinity = affinityCount() ?? machineProcessors
        return max(1, min(affinity, cgroupQuota() ?? affinity))
    }

    /// The default for one of `localSize` processes on this machine (MPI ranks): when the
    /// launcher bound this process to fewer processors than the machine has, those are its
    /// share; otherwise the available cores divided by `localSize`. Either way at most its
    /// part of the cgroup quota, and at least 1.
    public static func share(localSize: Int) -> Int {
        let ranks = max(1, localSize)
        let affinity = affinityCount() ?? machineProcessors
        let quotaShare = cgroupQuota().map { max(1, $0 / ranks) }   // the quota is the whole cgroup's
        // A launcher that bound this process to fewer processors than the machine has gave it its share.
        let own = ranks > 1 && affinity < machineProcessors ? affinity : max(1, affinity / ranks)
        return max(1, min(own, quotaShare ?? own))
    }

    /// The default count: `requested`, else `available()` for a lone process or
    /// `share(localSize:)` for one of `localSize`.
    public static func defaultCount(localSize: Int = 1) -> Int {
        if let requested { return requested }
        return localSize > 1 ? share(localSize: localSize) : available()
    }

    /// The number of processors in this process's affinity mask (`sched_getaffinity`, looked
    /// up at run time: Glibc's Swift module does not export it), else `Cpus_allowed` in
    /// /proc/self/status; nil when neither answers.
    public static func affinityCount() -> Int? {
        typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_getaffinity") {
            let call = unsafeBitCast(symbol, to: GetAffinity.self)
            var mask = [UInt8](repeating: 0, count: 1024)   // 8192 processors
            let rc = mask.withUnsafeMutableBytes { call(0, $0.count, $0.baseAddress!) }
            if rc == 0 {
                let n = mask.reduce(0) { $0 + $1.nonzeroBitCount }
                if n > 0 { return n }
            }
        }
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let bits = line.dropFirst("Cpus_allowed:".count).filter(\.isHexDigit)
            .reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return bits > 0 ? bits : nil
    }

    /// The cgroup's CPU quota in whole cores (rounded up), or nil when there is none:
    /// cgroup v2's `cpu.max` of this process's cgroup (or of the root), else v1's
    /// `cpu.cfs_quota_us` / `cpu.cfs_period_us`.
    public static func cgroupQuota() -> Int? {
        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        var v2Paths = ["/sys/fs/cgroup/cpu.max"]
        if let own = read("/proc/self/cgroup")?.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) {
            let path = own.dropFirst(3).trimmingCharacters(in: .whitespaces)
            if path != "/" && !path.isEmpty { v2Paths.insert("/sys/fs/cgroup\(path)/cpu.max", at: 0) }
        }
        for p in v2Paths { if let text = read(p) { return parseCPUMax(text) } }
        if let quota = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), let period = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us") {
            return parseCPUMax("\(quota.trimmingCharacters(in: .whitespacesAndNewlines)) \(period)")
        }
        return nil
    }

    /// Whole cores of a quota written as cgroup v2's `cpu.max` ("QUOTA PERIOD", QUOTA `max`
    /// or negative for none): ⌈QUOTA / PERIOD⌉, or nil for no quota or text that is not one.
    public static func parseCPUMax(_ text: String) -> Int? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard f.count >= 1, let quota = Int(f[0]), quota > 0 else { return nil }
        let period = f.count >= 2 ? Int(f[1]) ?? 100_000 : 100_000
        guard period > 0 else { return nil }
        return max(1, (quota + period - 1) / period)
    }
}
