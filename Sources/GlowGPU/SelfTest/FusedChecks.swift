import Foundation
import GlowCore

/// `affineCoupling` forward or reverse: the output (first half copied, second half
/// transformed) and `log s`.
public struct AffineCouplingCheck: OperationCheck {
    /// Channels per half and columns (`images · H · W`).
    public let half: Int, cols: Int
    /// Direction.
    public let reverse: Bool
    public var operation: BackendOperation { .run }
    public var elementOp: ElementOp? { .affineCoupling }
    public var shape: String { "half \(half) × \(cols)\(reverse ? " reverse" : "")" }
    public var measure: ErrorMeasure { .relative(floor: 1) }
    public var tolerance: Double { 1e-5 }

    /// A check of one direction.
    public init(half: Int, cols: Int, reverse: Bool) { self.half = half; self.cols = cols; self.reverse = reverse }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let x = try b.makeBuffer(SelfTestInputs.values(2 * half * cols, stream: 26))
        let h = try b.makeBuffer(SelfTestInputs.values(2 * half * cols, stream: 27))
        let y = try b.nanFilled(2 * half * cols), logScale = try b.nanFilled(half * cols)
        try b.affineCoupling(x, h: h, half: half, cols: cols, reverse: reverse, y: y, logScale: logScale)
        return [try b.download(y), try b.download(logScale)]
    }
}

/// `affineCouplingBackward`: `dx` (second half only; the first half must stay untouched)
/// and `dh`.
public struct AffineCouplingBackwardCheck: OperationCheck {
    /// Channels per half and columns.
    public let half: Int, cols: Int
    public var operation: BackendOperation { .affineCouplingBackward }
    public var shape: String { "half \(half) × \(cols)" }
    public var measure: ErrorMeasure { .relative(floor: 1) }
    public var tolerance: Double { 1e-5 }

    /// A check of one shape.
    public init(half: Int, cols: Int) { self.half = half; self.cols = cols }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let n = 2 * half * cols
        let x = try b.makeBuffer(SelfTestInputs.values(n, stream: 28)), h = try b.makeBuffer(SelfTestInputs.values(n, stream: 29))
        let dy = try b.makeBuffer(SelfTestInputs.values(n, stream: 30))
        let dx = try b.nanFilled(n), dh = try b.nanFilled(n)
        try b.affineCouplingBackward(x, h: h, dy: dy, half: half, cols: cols, logdetGrad: -0.37, dx: dx, dh: dh)
        return [try b.download(dx), try b.download(dh)]
    }
}

/// The Gaussian operations of the split and top priors, in both layouts of `h`: the
/// split's (mean in even rows, log-scale in odd rows) and the top prior's (all means,
/// then all log-scales).
public struct GaussianCheck: OperationCheck {
    /// Which operation.
    public enum Kind: String, Sendable, CaseIterable {
        /// `gaussianLogDensity`.
        case logDensity = "gaussianLogDensity"
        /// `gaussianSample`.
        case sample = "gaussianSample"
        /// `gaussianBackward`.
        case backward = "gaussianBackward"

        var elementOp: ElementOp {
            switch self {
            case .logDensity: .gaussianLogDensity
            case .sample: .gaussianSample
            case .backward: .gaussianBackward
            }
        }
    }
    /// The operation.
    public let kind: Kind
    /// True for the split layout, false for the top prior's.
    public let interleaved: Bool
    /// `rows × cols` latent.
    public let rows: Int, cols: Int
    public var operation: BackendOperation { .run }
    public var elementOp: ElementOp? { kind.elementOp }
    public var shape: String { "\(rows)×\(cols) \(interleaved ? "split" : "top") layout" }
    public var measure: ErrorMeasure { .relative(floor: 1) }
    public var tolerance: Double { 1e-5 }

    /// A check of one operation and layout.
    public init(_ kind: Kind, interleaved: Bool, rows: Int, cols: Int) {
        self.kind = kind; self.interleaved = interleaved; self.rows = rows; self.cols = cols
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let (meanOffset, logsOffset, rowStride) = interleaved ? (0, cols, 2) : (0, rows * cols, 1)
        let h = try b.makeBuffer(SelfTestInputs.values(2 * rows * cols, stream: 31, low: -1, high: 1))
        let z = try b.makeBuffer(SelfTestInputs.values(1 + rows * cols, stream: 32))
        switch kind {
        case .logDensity:
            let out = try b.nanFilled(rows * cols)
            try b.gaussianLogDensity(z, zOffset: 1, h: h, meanOffset: meanOffset, logsOffset: logsOffset,
                                     rowStride: rowStride, rows: rows, cols: cols, out: out)
            return [try b.download(out)]
        case .sample:
            let eps = try b.makeBuffer(SelfTestInputs.values(rows * cols, stream: 33))
            let out = try b.nanFilled(2 + rows * cols)
            try b.gaussianSample(eps, h: h, meanOffset: meanOffset, logsOffset: logsOffset, rowStride: rowStride,
                                 rows: rows, cols: cols, temperature: 0.7, z: out, zOffset: 2)
            return [try b.download(out)]
        case .backward:
            let dz = try b.nanFilled(3 + rows * cols), dh = try b.nanFilled(2 * rows * cols)
            try b.gaussianBackward(z, zOffset: 1, h: h, meanOffset: meanOffset, logsOffset: logsOffset, rowStride: rowStride,
                                   rows: rows, cols: cols, scale: 0.8, dz: dz, dzOffset: 3, dh: dh)
            return [try b.download(dz), try b.download(dh)]
        }
    }
}

/// `random`: Philox4x32-10 normals or uniforms at an offset; the same seed must give the
/// same numbers on every backend (Box–Muller in Float32 with device libm: a few ulp).
public struct RandomCheck: OperationCheck {
    /// Normal or uniform.
    public let distribution: RandomDistribution
    /// Numbers drawn (not a multiple of 4 on purpose).
    public let count: Int
    public var operation: BackendOperation { .random }
    public var shape: String {
        if case .uniform(let lo, let hi) = distribution { return "\(count) uniform [\(lo), \(hi))" }
        return "\(count) normal"
    }
    public var measure: ErrorMeasure { .normwise }
    public var tolerance: Double { 1e-5 }

    /// A check of one distribution.
    public init(_ distribution: RandomDistribution, count: Int) { self.distribution = distribution; self.count = count }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let out = try b.nanFilled(count + 5)
        try b.random(out, offset: 3, count: count, distribution: distribution, seed: 0xDEAD_BEEF_1234, stream: 99)
        return [try b.download(out)]
    }
}
