import Foundation

/// The CPU backend's threads: `count` threads that live as long as the backend, thread t
/// pinned to the t-th processor of the process's affinity mask (when there are at least
/// `count` of them), so that thread t, which works on the same images in every operation
/// (`CPUWorkers`), keeps them in its own core's cache, as an MPI rank bound to a core does.
/// `run` hands every thread its index and waits for all of them; the calling thread waits.
final class CPUThreadPool: @unchecked Sendable {
    /// Threads.
    let count: Int
    private let condition = NSCondition()
    /// Serialises `run` calls from different threads (backends sharing the pool).
    private let caller = NSLock()
    private var job: ((Int) -> Void)?
    private var generation = 0, remaining = 0

    nonisolated(unsafe) private static var pools: [Int: CPUThreadPool] = [:]
    private static let poolsLock = NSLock()

    /// The process's pool of `count` threads (made on first use; backends with the same
    /// thread count share it, so making backends does not make threads).
    static func shared(count: Int) -> CPUThreadPool {
        poolsLock.lock()
        defer { poolsLock.unlock() }
        if let p = pools[count] { return p }
        let p = CPUThreadPool(count: count)
        pools[count] = p
        return p
    }

    private init(count: Int) {
        self.count = count
        let cpus = CPUThreadPool.allowedProcessors()
        for t in 0..<count {
            let cpu: Int? = cpus.count >= count ? cpus[t] : nil
            let thread = Thread { [unowned self] in
                if let cpu { CPUThreadPool.pin(to: cpu) }
                self.work(t)
            }
            thread.name = "glow-cpu-\(t)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(t)` on thread t for every `t < count`, and returns when all have finished.
    func run(_ body: (Int) -> Void) {
        caller.lock()
        defer { caller.unlock() }
        withoutActuallyEscaping(body) { body in
            condition.lock()
            job = body
            remaining = count
            generation &+= 1
            condition.broadcast()
            while remaining > 0 { condition.wait() }
            job = nil
            condition.unlock()
        }
    }

    private func work(_ t: Int) {
        var seen = 0
        condition.lock()
        while true {
            while generation == seen { condition.wait() }
            seen = generation
            let body = job!
            condition.unlock()
            body(t)
            condition.lock()
            remaining -= 1
            if remaining == 0 { condition.broadcast() }
        }
    }

    /// The processors in this process's affinity mask, in order.
    static func allowedProcessors() -> [Int] {
        typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_getaffinity") else { return [] }
        var mask = [UInt8](repeating: 0, count: 1024)
        guard mask.withUnsafeMutableBytes({ unsafeBitCast(symbol, to: GetAffinity.self)(0, $0.count, $0.baseAddress!) }) == 0 else {
            return []
        }
        return (0..<(mask.count * 8)).filter { mask[$0 / 8] & (1 << ($0 % 8)) != 0 }
    }

    /// Pins the calling thread to processor `cpu` (`sched_setaffinity` of thread 0 = itself).
    static func pin(to cpu: Int) {
        typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else { return }
        var mask = [UInt8](repeating: 0, count: 1024)
        mask[cpu / 8] |= 1 << (cpu % 8)
        _ = mask.withUnsafeBytes { unsafeBitCast(symbol, to: SetAffinity.self)(0, $0.count, $0.baseAddress!) }
    }
}
