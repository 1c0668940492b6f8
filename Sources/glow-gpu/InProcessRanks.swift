import Foundation
import GlowCore

/// `--ranks N` on `train` and `bench`: N data-parallel ranks as threads of this process
/// (`ThreadRankGroup`), each with its own model replica and its own CPU backend on its
/// share of the cores, exchanging gradients once per step. The same job as
/// `mpirun -np N`, in one process. Rank 0 runs on the calling thread and alone prints,
/// as under MPI.
enum InProcessRanks {
    /// The key of the thread-dictionary flag that silences a rank's standard output.
    static let quietKey = "glow-gpu.quiet-rank"

    /// Whether the current thread is a rank other than 0 of an in-process group.
    static var isQuietThread: Bool { Thread.current.threadDictionary[quietKey] as? Bool ?? false }

    /// Runs `body` once per rank, rank 0 on this thread and the others on threads of
    /// their own (8 MiB of stack, as the main thread has), and returns when all have;
    /// rank 0's error, if any, is rethrown. An error on another rank ends the process
    /// through its communicator's `abort` (as MPIJob does under MPI), so no rank waits
    /// forever for it.
    static func run(_ count: Int, _ body: @escaping (ThreadCommunicator) throws -> Void) throws {
        let group = ThreadRankGroup(size: count)
        let done = DispatchGroup()
        for rank in 1..<count {
            done.enter()
            let thread = Thread {
                Thread.current.threadDictionary[quietKey] = true
                let comm = group.communicator(rank: rank)
                do { try body(comm) } catch { comm.abort("Error: rank \(rank) of \(count): \(error.commandLineDescription)", code: 1) }
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.name = "glow-gpu rank \(rank)"
            thread.start()
        }
        defer { done.wait() }
        try body(group.communicator(rank: 0))
    }

    /// Serialises opening devices: the ranks start together, and the loaders of native
    /// libraries (CUDA, OpenCL ICDs) keep process-wide state.
    private static let opening = NSLock()

    /// `body` (opening this rank's device) while no other rank of the process opens one.
    static func openingDevice<T>(_ body: () throws -> T) rethrows -> T {
        opening.lock()
        defer { opening.unlock() }
        return try body()
    }

    /// Checks `--ranks` and that it is not combined with mpirun.
    static func check(_ ranks: Int, under comm: any Communicator) throws {
        guard ranks >= 1, ranks <= 256 else {
            throw GlowError("--ranks \(ranks): expected a count of in-process ranks from 1 to 256")
        }
        if ranks > 1 && comm.size > 1 {
            throw GlowError("--ranks \(ranks) under mpirun: give ranks as MPI processes or as --ranks, not both")
        }
    }
}

/// `print` for this module: silent on the ranks of an in-process group other than 0, the
/// way MPIJob silences the other MPI ranks' standard output.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    guard !InProcessRanks.isQuietThread else { return }
    Swift.print(items.map { "\($0)" }.joined(separator: separator), terminator: terminator)
}
