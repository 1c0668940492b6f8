import Foundation

/// The processes of one data-parallel training job and the collective operations they
/// use: one process alone (`SingleProcessCommunicator`) or the ranks of an `mpirun`
/// (`MPICommunicator`). Every rank must make the same collective calls in the same order.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size; rank 0 alone prints and writes files.
    var rank: Int { get }
    /// Processes in the job.
    var size: Int { get }
    /// This process's index among those on its machine (picks its GPU).
    var localRank: Int { get }
    /// Processes on this machine (they divide its cores).
    var localSize: Int { get }
    /// Replaces `values` by their element-wise sum over all ranks, in place.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `values` by their element-wise sum over all ranks.
    func allReduceSum(_ values: inout [Double]) throws
    /// Replaces `values` by their element-wise maximum over all ranks.
    func allReduceMax(_ values: inout [Double]) throws
    /// Waits until every rank has arrived.
    func barrier() throws
    /// Prints `message` to standard error and ends every rank of the job with `code`.
    func abort(_ message: String, code: Int32) -> Never
    /// Ends the job normally (MPI_Finalize); no collective may follow.
    func finish()
}

extension Communicator {
    /// True on rank 0, the one that prints and writes files.
    public var isRoot: Bool { rank == 0 }

    /// Whether `flag` holds on any rank (one small all-reduce), so every rank takes the
    /// same branch, e.g. "the time budget is spent".
    public func any(_ flag: Bool) throws -> Bool {
        guard size > 1 else { return flag }
        var v = [flag ? 1.0 : 0.0]
        try allReduceMax(&v)
        return v[0] > 0
    }

    /// Checks that every rank holds the same `value` (e.g. the step after loading a
    /// training state); the error names what differs.
    public func checkSame(_ value: Int, _ what: String) throws {
        guard size > 1 else { return }
        var v = [Double(value), -Double(value)]
        try allReduceMax(&v)
        if v[0] != -v[1] {
            throw GlowError("the ranks disagree on \(what): from \(Int(-v[1])) to \(Int(v[0])) (this rank: \(value)); "
                + "every rank must see the same files and options")
        }
    }
}
