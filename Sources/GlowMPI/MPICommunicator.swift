import CMPI
import Foundation
import GlowCore

/// The ranks of an Open MPI job (`mpirun -np N glow-gpu …`), reached through `dlopen` of
/// `libmpi.so.40` (or `GLOW_MPI_LIBRARY`) only when the process runs under `mpirun`, so
/// the binary needs no MPI to run alone. A watchdog thread ends the job when one
/// collective waits longer than `timeout` (a peer that hangs rather than dies; a peer that
/// dies is noticed by `mpirun`, which ends the others).
public final class MPICommunicator: Communicator {
    /// This process's rank in MPI_COMM_WORLD.
    public let rank: Int
    /// Ranks in MPI_COMM_WORLD.
    public let size: Int
    /// `OMPI_COMM_WORLD_LOCAL_RANK`.
    public let localRank: Int
    /// `OMPI_COMM_WORLD_LOCAL_SIZE`.
    public let localSize: Int
    /// Seconds one collective may wait for the other ranks before the job is ended
    /// (`GLOW_MPI_TIMEOUT`, default 1800: rank 0 may be writing checkpoints and samples
    /// while the others wait).
    public let timeout: Double
    private let watchdog: Watchdog
    private var finished = false

    nonisolated(unsafe) private static var shared: MPICommunicator?

    /// Loads Open MPI and calls MPI_Init (once per process; later calls return the same
    /// communicator).
    public static func start() throws -> MPICommunicator {
        if let shared { return shared }
        let env = ProcessInfo.processInfo.environment
        let library = env["GLOW_MPI_LIBRARY"] ?? "libmpi.so.40"
        var message = [CChar](repeating: 0, count: 1024)
        if glow_mpi_load(library, &message, message.count) != 0 {
            throw GlowError("running under mpirun (OMPI_COMM_WORLD_SIZE=\(env["OMPI_COMM_WORLD_SIZE"] ?? "?")) but Open MPI's "
                + "library could not be loaded: \(String(cString: message)). Install it (Debian: openmpi-bin, libopenmpi3) "
                + "or set GLOW_MPI_LIBRARY to its path")
        }
        try check(glow_mpi_init(), "MPI_Init")
        var r: Int32 = 0, s: Int32 = 0
        try check(glow_mpi_rank(&r), "MPI_Comm_rank")
        try check(glow_mpi_size(&s), "MPI_Comm_size")
        let timeout = env["GLOW_MPI_TIMEOUT"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 1800
        let c = MPICommunicator(rank: Int(r), size: Int(s),
                                localRank: env["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init) ?? 0,
                                localSize: env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1, timeout: timeout)
        shared = c
        return c
    }

    private init(rank: Int, size: Int, localRank: Int, localSize: Int, timeout: Double) {
        self.rank = rank; self.size = size; self.localRank = localRank; self.localSize = max(1, localSize)
        self.timeout = timeout
        watchdog = Watchdog(rank: rank, size: size, timeout: timeout)
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        glow_mpi_error_string(code, &text, text.count)
        throw GlowError("\(call) failed: \(String(cString: text))")
    }

    /// Runs one collective under the watchdog.
    private func collective(_ name: String, _ body: () -> Int32) throws {
        precondition(!finished, "MPI collective \(name) after MPI_Finalize")
        watchdog.begin(name)
        let code = body()
        watchdog.end()
        try Self.check(code, name)
    }

    /// MPI_Allreduce(MPI_IN_PLACE, MPI_FLOAT, MPI_SUM).
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try collective("MPI_Allreduce") { glow_mpi_allreduce_sum_float(base, values.count) }
    }

    /// MPI_Allreduce(MPI_IN_PLACE, MPI_DOUBLE, MPI_SUM).
    public func allReduceSum(_ values: inout [Double]) throws {
        let n = values.count
        guard n > 0 else { return }
        try values.withUnsafeMutableBufferPointer { b in
            try collective("MPI_Allreduce") { glow_mpi_allreduce_sum_double(b.baseAddress!, n) }
        }
    }

    /// MPI_Allreduce(MPI_IN_PLACE, MPI_DOUBLE, MPI_MAX).
    public func allReduceMax(_ values: inout [Double]) throws {
        let n = values.count
        guard n > 0 else { return }
        try values.withUnsafeMutableBufferPointer { b in
            try collective("MPI_Allreduce") { glow_mpi_allreduce_max_double(b.baseAddress!, n) }
        }
    }

    /// MPI_Barrier.
    public func barrier() throws {
        try collective("MPI_Barrier") { glow_mpi_barrier() }
    }

    /// Prints `message` and calls MPI_Abort, which ends every rank.
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        glow_mpi_abort(code)
        exit(code)
    }

    /// MPI_Finalize (once).
    public func finish() {
        guard !finished else { return }
        finished = true
        watchdog.stop()
        _ = glow_mpi_finalize()
    }
}

/// Ends the process when one collective has waited longer than `timeout`; `mpirun` then
/// ends the other ranks. A thread that looks once a second, so `begin`/`end` cost a lock.
final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var started: Date?
    private var name = ""
    private var stopped = false
    let rank: Int, size: Int, timeout: Double

    init(rank: Int, size: Int, timeout: Double) {
        self.rank = rank; self.size = size; self.timeout = timeout
        let t = Thread { self.watch() }
        t.name = "glow-mpi-watchdog"
        t.start()
    }

    func begin(_ what: String) { lock.lock(); started = Date(); name = what; lock.unlock() }
    func end() { lock.lock(); started = nil; lock.unlock() }
    func stop() { lock.lock(); stopped = true; lock.unlock() }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: 1)
            lock.lock()
            let s = started, n = name, done = stopped
            lock.unlock()
            if done { return }
            if let s, Date().timeIntervalSince(s) > timeout {
                let m = "glow-gpu: rank \(rank) of \(size) waited more than \(Int(timeout)) s in \(n) for the other ranks "
                    + "(one of them hangs or was stopped); ending the job (GLOW_MPI_TIMEOUT sets the limit)\n"
                FileHandle.standardError.write(Data(m.utf8))
                // Not MPI_Abort: this thread is not MPI's; mpirun ends the job when a rank exits.
                _exit(3)
            }
        }
    }
}
