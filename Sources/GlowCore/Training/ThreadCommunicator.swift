import Foundation

/// Data-parallel ranks as threads of one process (`--ranks N`): what `mpirun -np N` gives
/// across processes, without MPI and without copying gradients between address spaces.
/// Each rank runs its own model replica on its own backend; the collectives meet at a
/// barrier and sum every element over the ranks in rank order (0, 1, …), whichever thread
/// gets there first, so a run is the same from one launch to the next and, for two ranks,
/// the same floats as MPI's two-rank sum.
public final class ThreadRankGroup: @unchecked Sendable {
    /// The ranks in the group.
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0, generation = 0
    // The buffers the ranks posted for the collective in progress (valid between its barriers).
    private var posted: [UnsafeMutableRawBufferPointer?]

    /// A group of `size` ranks (at least 1); `communicator(rank:)` gives each its end.
    public init(size: Int) {
        precondition(size >= 1, "a rank group needs at least one rank")
        self.size = size
        posted = Array(repeating: nil, count: size)
    }

    /// Rank `rank`'s communicator.
    public func communicator(rank: Int) -> ThreadCommunicator {
        precondition((0..<size).contains(rank), "rank \(rank) of \(size)")
        return ThreadCommunicator(group: self, rank: rank)
    }

    /// Returns when all `size` ranks have called it.
    func barrier() {
        condition.lock()
        defer { condition.unlock() }
        let mine = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
    }

    /// The part `lo ..< hi` of `count` elements that `rank` combines.
    private func slice(_ count: Int, _ rank: Int) -> Range<Int> {
        (count * rank / size) ..< (count * (rank + 1) / size)
    }

    /// Every rank posts its buffer; each combines its slice of all of them in rank order
    /// and writes the result into every buffer; the second barrier keeps each buffer
    /// alive until no rank reads or writes it.
    func allReduce<T>(_ values: UnsafeMutableBufferPointer<T>, rank: Int, _ combine: (T, T) -> T) throws {
        condition.lock(); posted[rank] = UnsafeMutableRawBufferPointer(values); condition.unlock()
        barrier()
        defer { barrier() }
        let all = posted.map { UnsafeMutableBufferPointer(start: $0!.baseAddress?.assumingMemoryBound(to: T.self),
                                                          count: $0!.count / MemoryLayout<T>.stride) }
        guard all.allSatisfy({ $0.count == values.count }) else {
            throw GlowError("the in-process ranks all-reduced buffers of different sizes (\(all.map(\.count)))")
        }
        for i in slice(values.count, rank) {
            var s = all[0][i]
            for r in 1..<size { s = combine(s, all[r][i]) }
            for r in 0..<size { all[r][i] = s }
        }
    }
}

/// One rank of a `ThreadRankGroup`: a `Communicator` whose ranks are threads of this
/// process (all on this machine, so its local rank and size are its rank and size).
public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    /// The group this rank belongs to.
    public let group: ThreadRankGroup
    /// This rank's index in the group.
    public let rank: Int

    init(group: ThreadRankGroup, rank: Int) { self.group = group; self.rank = rank }

    /// The group's size.
    public var size: Int { group.size }
    /// The rank: every rank is on this machine.
    public var localRank: Int { rank }
    /// The group's size: the ranks share this machine's cores.
    public var localSize: Int { group.size }

    /// The element-wise sum over the ranks, added in rank order.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1 else { return }
        try group.allReduce(values, rank: rank, +)
    }

    /// The element-wise sum over the ranks, added in rank order.
    public func allReduceSum(_ values: inout [Double]) throws {
        guard size > 1 else { return }
        try values.withUnsafeMutableBufferPointer { try group.allReduce($0, rank: rank, +) }
    }

    /// The element-wise maximum over the ranks.
    public func allReduceMax(_ values: inout [Double]) throws {
        guard size > 1 else { return }
        try values.withUnsafeMutableBufferPointer { try group.allReduce($0, rank: rank) { Swift.max($0, $1) } }
    }

    /// Returns when every rank has arrived.
    public func barrier() throws { group.barrier() }

    /// Prints `message` to standard error and ends the process, and with it every rank
    /// (as MPI_Abort ends the job).
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }

    /// Nothing to end: the threads return.
    public func finish() {}
}
