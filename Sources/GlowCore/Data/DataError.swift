import Foundation

/// An error reading, writing or transforming image data. Its description names the
/// file (when there is one) and the problem, e.g.
/// `data/mnist/train-images-idx3-ubyte.gz: bad magic number 0x00000000, expected 0x00000803 (IDX images)`.
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file concerned, or `nil` for errors that are not about a file (e.g. a bad resize size).
    public let path: String?
    /// What went wrong, without the file name.
    public let problem: String

    /// Makes an error about `path` (or about no file when `path` is `nil`).
    public init(path: String?, problem: String) {
        self.path = path
        self.problem = problem
    }

    /// `"<path>: <problem>"`, or just the problem when there is no path.
    public var description: String {
        if let path { return "\(path): \(problem)" }
        return problem
    }
}
