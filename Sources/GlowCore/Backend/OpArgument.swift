/// The kind of one argument of an operation run as data (`ElementOp`) or of a kernel
/// launch, as kernels.cl declares it.
public enum OpArgumentKind: Sendable, Equatable, CustomStringConvertible {
    /// `__global float*` (a device buffer).
    case buffer
    /// `int`.
    case int
    /// `uint`.
    case uint
    /// `float`.
    case float

    public var description: String {
        switch self {
        case .buffer: "__global float*"
        case .int: "int"
        case .uint: "uint"
        case .float: "float"
        }
    }
}

/// One argument of an operation run as data (`Backend.run`) or of a kernel launch.
public enum OpArgument<Buffer> {
    /// A buffer of the backend that runs it.
    case buffer(Buffer)
    /// A size, offset or flag, passed as a 32-bit `int` (a kernel launch checks that it fits).
    case int(Int)
    /// A 32-bit unsigned integer (seeds).
    case uint(UInt32)
    /// A 32-bit float.
    case float(Float)

    /// The argument's kind.
    public var kind: OpArgumentKind {
        switch self {
        case .buffer: .buffer
        case .int: .int
        case .uint: .uint
        case .float: .float
        }
    }
}
