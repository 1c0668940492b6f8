import Foundation

/// One process alone: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    /// A communicator of one process.
    public init() {}
    /// 0.
    public var rank: Int { 0 }
    /// 1.
    public var size: Int { 1 }
    /// 0.
    public var localRank: Int { 0 }
    /// 1.
    public var localSize: Int { 1 }
    /// Leaves `values` as they are.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    /// Leaves `values` as they are.
    public func allReduceSum(_ values: inout [Double]) throws {}
    /// Leaves `values` as they are.
    public func allReduceMax(_ values: inout [Double]) throws {}
    /// Returns at once.
    public func barrier() throws {}
    /// Prints `message` and exits with `code`.
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
    /// Nothing to end.
    public func finish() {}
}
