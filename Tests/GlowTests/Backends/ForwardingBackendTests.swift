import XCTest
@testable import GlowCore
import GlowCPU

/// `ForwardingBackend` forwards every requirement of `Backend` by a member of its own that
/// names its `BackendOperation`: the link between the protocol and the operation list the
/// self-test's coverage is checked against. A requirement without a default implementation
/// does not compile until `ForwardingBackend` has it; a `BackendOperation` case does not
/// compile until `call(_:on:_:)` below calls its member; and each member must note its own
/// case and nothing else, or this test fails (a member the protocol reached through a
/// default implementation instead would note the operations the default is built from).
final class ForwardingBackendTests: XCTestCase {
    final class Replayed: RecordedWork { var operations: Int { 0 } }

    /// Calls the requirement of `operation` once on `b`, through the protocol, with small
    /// valid arguments made from `v` (eight buffers of 64 floats).
    func call<B: Backend>(_ operation: BackendOperation, on b: B, _ v: [B.Buffer]) throws {
        var scratch = [Float](repeating: 1, count: 4)
        switch operation {
        case .name: _ = b.name
        case .allocate: _ = try b.allocate(4)
        case .count: _ = b.count(of: v[0])
        case .upload: try b.upload([1, 2], to: v[0], offset: 1)
        case .download: _ = try b.download(v[0], offset: 1, count: 2)
        case .downloadInto: try b.download(v[0], offset: 0, count: 4, into: &scratch)
        case .uploadFrom: try b.upload(from: scratch, count: 4, to: v[0], offset: 0)
        case .fill: try b.fill(v[0], offset: 0, count: 4, value: 1)
        case .copy2D: try b.copy2D(v[0], srcOffset: 0, srcStride: 4, v[1], dstOffset: 0, dstStride: 4, rows: 2, cols: 3)
        case .copyStrided:
            try b.copyStrided(v[0], srcOffset: 0, srcRowStride: 1, srcColStride: 2, v[1], dstOffset: 0, dstRowStride: 2,
                              dstColStride: 1, rows: 2, cols: 2)
        case .synchronize: try b.synchronize()
        case .gemm:
            try b.gemm(transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a: v[0], aOffset: 0, lda: 2, b: v[1], bOffset: 0,
                       ldb: 2, beta: 0, c: v[2], cOffset: 0, ldc: 2)
        case .im2col3x3: try b.im2col3x3(v[0], xOffset: 0, channels: 1, images: 1, height: 2, width: 2, columns: v[1])
        case .col2im3x3: try b.col2im3x3(v[0], channels: 1, images: 1, height: 2, width: 2, x: v[1], xOffset: 0)
        case .conv3x3ScratchCount: _ = b.conv3x3ScratchCount(inChannels: 1, outChannels: 1, images: 1, height: 2, width: 2)
        case .conv3x3Forward:
            try b.conv3x3Forward(v[0], xOffset: 0, weight: v[1], inChannels: 1, outChannels: 1, images: 1, height: 2, width: 2,
                                 y: v[2], yOffset: 0, columns: v[3])
        case .conv3x3BackwardData:
            try b.conv3x3BackwardData(v[0], dyOffset: 0, weight: v[1], inChannels: 1, outChannels: 1, images: 1, height: 2,
                                      width: 2, dx: v[2], dxOffset: 0, columns: v[3])
        case .conv3x3BackwardWeights:
            try b.conv3x3BackwardWeights(v[0], xOffset: 0, dy: v[1], dyOffset: 0, inChannels: 1, outChannels: 1, images: 1,
                                         height: 2, width: 2, dw: v[2], columns: v[3])
        case .channelAffine:
            try b.channelAffine(v[0], xOffset: 0, rows: 2, cols: 3, bias: v[1], logs: v[2], factor: 1, reverse: false, relu: true,
                                y: v[3], yOffset: 0)
        case .channelAffineBackward:
            try b.channelAffineBackward(dy: v[0], y: v[1], logs: v[2], factor: 1, rows: 2, cols: 3, logsConstant: 0, relu: false,
                                        dx: v[3], gradBias: v[4], gradLogs: v[5])
        case .binary: try b.binary(.add, v[0], aOffset: 0, v[1], bOffset: 0, y: v[2], yOffset: 0, count: 4)
        case .rowSums: try b.rowSums(v[0], xOffset: 0, rows: 2, cols: 3, squares: false, out: v[1])
        case .sumOfSquares: try b.sumOfSquares(v[0], count: 4, out: v[1], outIndex: 1)
        case .rowDots: try b.rowDots(v[0], v[1], rows: 2, cols: 3, out: v[2])
        case .sampleSums: try b.sampleSums(v[0], xOffset: 0, rows: 2, images: 2, spatial: 2, out: v[1], accumulate: false)
        case .squeeze: try b.squeeze(v[0], y: v[1], channels: 1, images: 1, height: 2, width: 2, inverse: false)
        case .run: try b.run(.scale, [.buffer(v[0]), .int(0), .float(2), .float(1), .buffer(v[1]), .int(0), .int(4)])
        case .affineCouplingBackward:
            try b.affineCouplingBackward(v[0], h: v[1], dy: v[2], half: 1, cols: 3, logdetGrad: 1, dx: v[3], dh: v[4])
        case .viewAlignment: _ = b.viewAlignment
        case .view: _ = try b.view(of: v[0], offset: 0, count: 4)
        case .counters: _ = b.counters
        case .addScaledSum: try b.addScaledSum(v[0], xOffset: 0, count: 4, scale: 1, out: v[1], outOffset: 0, outCount: 2)
        case .luWeight: try b.luWeight(p: v[0], lower: v[1], upper: v[2], logS: v[3], signS: v[4], channels: 2, weight: v[5])
        case .luInverse: try b.luInverse(p: v[0], lower: v[1], upper: v[2], logS: v[3], signS: v[4], channels: 2, inverse: v[5])
        case .luBackward:
            try b.luBackward(dw: v[0], p: v[1], lower: v[2], upper: v[3], logS: v[4], signS: v[5], channels: 2, logdetScale: 1,
                             gLower: v[6], gUpper: v[7], gLogS: v[2])
        case .dequantize:
            try b.dequantize(v[0], images: 1, channels: 1, height: 2, width: 2, nBits: 8, scalars: v[7], x: v[1])
        case .stepDecide: try b.stepDecide(record: v[0], scalars: v[7])
        case .arenaUpdate:
            try b.arenaUpdate(v[0], gradients: v[1], m: v[2], v: v[3], ema: nil, record: v[4], scalars: v[7], count: 4, beta1: 0.9,
                              beta2: 0.999, epsilon: 1e-8, adamax: false)
        case .record: _ = try b.record {}
        case .recordsWork: _ = b.recordsWork
        case .replay: XCTAssertThrowsError(try b.replay(Replayed()), "the CPU backend replays nothing")
        case .random: try b.random(v[0], offset: 0, count: 4, distribution: .normal, seed: 1, stream: 2)
        }
    }

    func testEachOperationIsForwardedByItsOwnMember() throws {
        let cpu = TestBackends.cpu
        let recorder = RecordingBackend(cpu)
        // Buffers made on the inner backend (unrecorded): small positive values, and step
        // scalars in v[7].
        var v = try (0..<7).map { i in try cpu.makeBuffer((0..<64).map { Float(1 + ($0 + i) % 5) / 8 }) }
        v.append(try cpu.makeBuffer(StepScalars(learningRate: 0.1).floats + [Float](repeating: 0, count: 48)))
        for operation in BackendOperation.allCases {
            recorder.reset()
            try call(operation, on: recorder, v)
            XCTAssertEqual(recorder.calls, [operation], "\(operation.rawValue) did not reach its own forwarding member")
        }
        XCTAssertEqual(Set(BackendOperation.allCases.map(\.rawValue)).count, BackendOperation.allCases.count)
    }
}
