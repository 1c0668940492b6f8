import GlowCore

/// The operations of a training step on the device: buffer views, `addScaledSum`, the LU
/// 1×1 convolution's `luWeight`, `luInverse` and `luBackward`, `stepDecide` and
/// `arenaUpdate` (applied, clipped, skipped, with and without EMA).
public struct TrainingStepCheck: OperationCheck {
    /// Which operation and case.
    public enum Kind: String, Sendable, CaseIterable {
        /// A view written through, read through its parent (and the parent's margins untouched).
        case view
        /// `addScaledSum` onto existing values.
        case addScaledSum
        /// `luWeight`.
        case luWeight
        /// `luInverse`.
        case luInverse
        /// `luBackward`.
        case luBackward
        /// `stepDecide` with a finite norm under the clip, over it, non-finite, and under and over a
        /// skip threshold.
        case stepDecide
        /// `arenaUpdate`, Adam, applied with a clip factor.
        case arenaAdam
        /// `arenaUpdate`, Adam with each weight's step capped at 0.5 (`StepScalars.updateClip`),
        /// which some of the inputs' steps exceed.
        case arenaAdamCapped
        /// `arenaUpdate`, Adamax with EMA.
        case arenaAdamaxEMA
        /// `arenaUpdate` of a skipped step: nothing may change.
        case arenaSkipped
        /// `channelAffineBackward` with factor 1 and a log-scale constant (ActNorm), rows of `size·37` columns.
        case affineBackward
        /// `channelAffineBackward` with factor 3 (Conv2dZeros), written over its own `dy`.
        case affineBackwardInPlace
        /// `channelAffineBackward` after a ReLU (the coupling network's ActNorms).
        case affineBackwardReLU
        /// `dequantize` of `size` 3-channel 5×7 images at 5 bits, no noise.
        case dequantize
        /// `dequantize` at 8 bits with noise from element 1001 of a stream (a rank's slice).
        case dequantizeNoise
    }
    /// The operation.
    public let kind: Kind
    /// Channels (LU) or elements.
    public let size: Int

    /// A check of `kind` at `size`.
    public init(_ kind: Kind, size: Int) { self.kind = kind; self.size = size }

    public var operation: BackendOperation {
        switch kind {
        case .view: .view
        case .addScaledSum: .addScaledSum
        case .luWeight: .luWeight
        case .luInverse: .luInverse
        case .luBackward: .luBackward
        case .stepDecide: .stepDecide
        case .arenaAdam, .arenaAdamCapped, .arenaAdamaxEMA, .arenaSkipped: .arenaUpdate
        case .affineBackward, .affineBackwardInPlace, .affineBackwardReLU: .channelAffineBackward
        case .dequantize, .dequantizeNoise: .dequantize
        }
    }
    public var shape: String {
        switch kind {
        case .luWeight, .luInverse, .luBackward: "\(size)×\(size)"
        case .stepDecide: "6 records"
        case .arenaAdam: "\(size) adam clipped"
        case .arenaAdamCapped: "\(size) adam, step capped at 0.5"
        case .arenaAdamaxEMA: "\(size) adamax ema"
        case .arenaSkipped: "\(size) skipped"
        case .affineBackward: "4×\(size * 37)"
        case .affineBackwardInPlace: "4×\(size * 37) factor 3 in place"
        case .affineBackwardReLU: "4×\(size * 37) relu"
        case .dequantize: "\(size)×3×5×7, 5 bits"
        case .dequantizeNoise: "\(size)×3×5×7, 8 bits, noise from element 1001"
        default: "\(size)"
        }
    }
    public var measure: ErrorMeasure { .normwise }
    /// Float32 sums and solves of at most ~30 terms in another order (the inverse of a
    /// well-conditioned triangular product: 1e-4 leaves room for a condition number of ~100).
    public var tolerance: Double { kind == .luInverse ? 1e-4 : 2e-5 }

    /// LU factors of `c` channels: P a fixed permutation, L and U entries N(0, 0.3²),
    /// log_s N(0, 0.3²), signs alternating.
    static func factors<B: Backend>(_ b: B, _ c: Int) throws -> [B.Buffer] {
        var p = [Float](repeating: 0, count: c * c)
        let shuffled = (0..<c).map { ($0 * 7 + 3) % c }
        let column = Set(shuffled).count == c ? shuffled : Array((0..<c).reversed())
        for i in 0..<c { p[i * c + column[i]] = 1 }
        let scaled = { (s: UInt64) in SelfTestInputs.values(c * c, stream: s).map { 0.3 * $0 } }
        let logS = SelfTestInputs.values(c, stream: 73).map { 0.3 * $0 }
        return [try b.makeBuffer(p), try b.makeBuffer(scaled(71)), try b.makeBuffer(scaled(72)), try b.makeBuffer(logS),
                try b.makeBuffer((0..<c).map { $0 % 2 == 0 ? 1 : -1 })]
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let n = size
        switch kind {
        case .view:
            // The margins (NaN) must stay as they are; the view's values are written in place.
            let a = max(1, b.viewAlignment)
            let parent = try b.nanFilled(3 * a + n)
            try b.upload(SelfTestInputs.values(n, stream: 70), to: parent, offset: 2 * a)
            let v = try b.view(of: parent, offset: 2 * a, count: n)
            try b.scale(v, xOffset: 0, alpha: 2, beta: 1, y: v, yOffset: 0, count: n)
            let all = try b.download(parent)
            guard all.enumerated().allSatisfy({ (2 * a..<2 * a + n).contains($0.offset) || $0.element.isNaN }) else {
                throw GlowError("a write through a view of \(n) floats at \(2 * a) changed its parent outside the view")
            }
            return [Array(all[2 * a..<2 * a + n]), try b.download(v)]
        case .addScaledSum:
            let x = try b.makeBuffer(SelfTestInputs.values(n + 3, stream: 74))
            let out = try b.makeBuffer(SelfTestInputs.values(9, stream: 75))
            try b.addScaledSum(x, xOffset: 3, count: n, scale: 0.75, out: out, outOffset: 2, outCount: 5)
            return [try b.download(out)]
        case .luWeight, .luInverse:
            let f = try Self.factors(b, n)
            let out = try b.nanFilled(n * n)
            if kind == .luWeight {
                try b.luWeight(p: f[0], lower: f[1], upper: f[2], logS: f[3], signS: f[4], channels: n, weight: out)
            } else {
                try b.luInverse(p: f[0], lower: f[1], upper: f[2], logS: f[3], signS: f[4], channels: n, inverse: out)
            }
            return [try b.download(out)]
        case .luBackward:
            let f = try Self.factors(b, n)
            let dw = try b.makeBuffer(SelfTestInputs.values(n * n, stream: 76))
            let gl = try b.nanFilled(n * n), gu = try b.nanFilled(n * n), gs = try b.nanFilled(n)
            try b.luBackward(dw: dw, p: f[0], lower: f[1], upper: f[2], logS: f[3], signS: f[4], channels: n, logdetScale: -0.5,
                             gLower: gl, gUpper: gu, gLogS: gs)
            return [try b.download(gl), try b.download(gu), try b.download(gs)]
        case .stepDecide:
            var out: [[Float]] = []
            for (sumSq, clip, skip) in [(Float(9), Float(5), Float(0)), (100, 5, 0), (.nan, 5, 0), (4, 0, 0), (100, 5, 8),
                                        (100, 5, 20)] {
                let r = try b.makeBuffer([sumSq, .nan, .nan, .nan])
                try b.stepDecide(record: r, scalars: try b.makeBuffer(StepScalars(clip: clip, skipAbove: skip).floats))
                out.append(try b.download(r))
            }
            return out
        case .affineBackward, .affineBackwardInPlace, .affineBackwardReLU:
            let rows = 4, cols = n * 37
            let relu = kind == .affineBackwardReLU
            let yv = SelfTestInputs.values(rows * cols, stream: 83)
            let y = try b.makeBuffer(relu ? yv.map { max($0, 0) } : yv)
            let dy = try b.makeBuffer(SelfTestInputs.values(rows * cols, stream: 84))
            let logs = try b.makeBuffer(SelfTestInputs.values(rows, stream: 85).map { 0.3 * $0 })
            let dx = kind == .affineBackwardInPlace ? dy : try b.nanFilled(rows * cols)
            let gb = try b.nanFilled(rows), gl = try b.nanFilled(rows)
            try b.channelAffineBackward(dy: dy, y: y, logs: logs, factor: kind == .affineBackwardInPlace ? 3 : 1, rows: rows,
                                        cols: cols, logsConstant: kind == .affineBackward ? 0.5 : 0, relu: relu, dx: dx,
                                        gradBias: gb, gradLogs: gl)
            return [try b.download(dx), try b.download(gb), try b.download(gl)]
        case .dequantize, .dequantizeNoise:
            let count = n * 3 * 35
            let bytes = SelfTestInputs.values(count, stream: 86, low: 0, high: 256).map { UInt8(min(255, max(0, $0))) }
            let x = try b.nanFilled(count)
            let noise = kind == .dequantizeNoise ? DequantizationNoise(seed: 11, stream: 5, first: 1001) : nil
            try b.dequantize(try b.makeBuffer(PixelBytes.pack(bytes)), images: n, channels: 3, height: 5, width: 7,
                             nBits: kind == .dequantize ? 5 : 8, scalars: try b.makeBuffer(StepScalars(noise: noise).floats), x: x)
            return [try b.download(x)]
        case .arenaAdam, .arenaAdamCapped, .arenaAdamaxEMA, .arenaSkipped:
            let adam = kind == .arenaAdam || kind == .arenaAdamCapped
            let p = try b.makeBuffer(SelfTestInputs.values(n, stream: 77))
            let g = try b.makeBuffer(SelfTestInputs.values(n, stream: 78))
            let m = try b.makeBuffer(SelfTestInputs.values(n, stream: 79).map { 0.1 * $0 })
            let v = try b.makeBuffer(SelfTestInputs.values(n, stream: 80, low: 0, high: 0.01))
            let ema = try b.makeBuffer(SelfTestInputs.values(n, stream: 81))
            let record = try b.makeBuffer([25, 0.5, kind == .arenaSkipped ? 0 : 1, 5])
            let scalars = try b.makeBuffer(StepScalars(learningRate: 1e-3, correction1: 10, correction2: 1000,
                                                       emaRate: adam ? 0 : 0.001,
                                                       updateClip: kind == .arenaAdamCapped ? 0.5 : 0).floats)
            try b.arenaUpdate(p, gradients: g, m: m, v: v, ema: adam ? nil : ema, record: record, scalars: scalars,
                              count: n, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, adamax: !adam)
            return [try b.download(p), try b.download(m), try b.download(v), try b.download(ema)]
        }
    }
}
