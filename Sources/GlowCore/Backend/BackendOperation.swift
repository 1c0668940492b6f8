/// One case per requirement of the `Backend` protocol, in the protocol's order: the list
/// the self-test's coverage is checked against (every case but the buffer plumbing must be
/// the `operation` of some `OperationCheck` in `SelfTest.operationChecks`).
///
/// The rule: a requirement added to `Backend` gets a case here and a forwarding member in
/// the tests' `ForwardingBackend` (Tests/GlowTests/Support/ForwardingBackend.swift), which
/// conforms to `Backend` by forwarding every requirement and names its case as it does.
/// A requirement without a default implementation does not compile until
/// `ForwardingBackend` has it; `ForwardingBackendTests` checks that each case here is
/// forwarded by exactly the member it names, and `SelfTestTests` that each case but the
/// plumbing has a self-test row.
///
/// An `ElementOp` is not a case of its own: all of them reach a backend through `run`, which
/// `ForwardingBackend` forwards once, and `SelfTestTests` checks that each `ElementOp` has a
/// row of its own.
///
/// The raw value is the requirement's name as self-test rows report it (`SelfTestRow.op`);
/// the second of two overloads carries its distinguishing argument label.
public enum BackendOperation: String, CaseIterable, Sendable {
    // Buffers
    case name
    case allocate
    case count
    case upload
    case download
    /// `download(_:offset:count:into:)`.
    case downloadInto = "download(into:)"
    /// `upload(from:count:to:offset:)`.
    case uploadFrom = "upload(from:)"
    case fill
    case copy2D
    case copyStrided
    case synchronize
    // Linear algebra
    case gemm
    case im2col3x3
    case col2im3x3
    // 3×3 convolution
    case conv3x3ScratchCount
    case conv3x3Forward
    case conv3x3BackwardData
    case conv3x3BackwardWeights
    // Elementwise and per-channel
    case channelAffine
    case channelAffineBackward
    case binary
    case rowSums
    case sumOfSquares
    case rowDots
    case sampleSums
    case squeeze
    // Operations as data (`ElementOp`), all through one requirement
    case run
    // Training
    case affineCouplingBackward
    // Views, counters and the training step on the device
    case viewAlignment
    case view
    case counters
    case addScaledSum
    case luWeight
    case luInverse
    case luBackward
    case dequantize
    case stepDecide
    case arenaUpdate
    // Recorded steps
    case record
    case recordsWork
    case replay
    // Random numbers
    case random
}
