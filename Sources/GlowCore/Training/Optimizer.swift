import Foundation

/// Settings of the optimizer (docs/glow-spec.md follows the official code: Adamax by default).
public struct OptimizerConfig: Sendable, Equatable {
    /// The update rule.
    public enum Kind: String, Sendable, CaseIterable { case adam, adamax }
    /// Adam or Adamax.
    public var kind: Kind = .adamax
    /// Peak learning rate.
    public var learningRate: Double = 1e-3
    /// β1.
    public var beta1: Double = 0.9
    /// β2.
    public var beta2: Double = 0.999
    /// ε.
    public var epsilon: Double = 1e-8
    /// Steps of linear warm-up from 0 to the peak learning rate.
    public var warmup: Int = 0
    /// Clip the global gradient norm to this value (nil: no clipping).
    public var clip: Double? = nil
    /// Decay of the exponential moving average of the weights (nil: none).
    public var ema: Double? = nil

    /// The defaults.
    public init() {}

    /// The learning rate at 0-based `step`.
    public func learningRate(at step: Int) -> Double {
        warmup > 0 ? learningRate * min(1, Double(step + 1) / Double(warmup)) : learningRate
    }

    /// Checks the values; the error names the option.
    public func validate() throws {
        if !(learningRate > 0 && learningRate.isFinite) { throw GlowError("--lr \(learningRate): must be positive") }
        if warmup < 0 { throw GlowError("--warmup \(warmup): must be 0 or more") }
        if let c = clip, !(c > 0) { throw GlowError("--clip \(c): must be positive") }
        if let e = ema, !(e > 0 && e < 1) { throw GlowError("--ema \(e): must be in (0, 1), e.g. 0.999") }
    }
}

/// Adam / Adamax on the device: one fused update per parameter tensor, moments kept on
/// the device, optional global-norm clipping and an EMA of the weights.
public final class Optimizer<B: Backend> {
    /// The settings.
    public let config: OptimizerConfig
    /// Updates applied so far.
    public private(set) var step = 0
    let backend: B
    let parameters: [Parameter<B>]
    /// Recomputes what the model derives from its weights (W⁻¹, log|det W|, ActNorm's
    /// log-scale sums) after `swapEMA` exchanged them.
    private let refreshModel: () throws -> Void
    var m: [B.Buffer] = [], v: [B.Buffer] = [], ema: [B.Buffer] = []
    private let norms: B.Buffer

    /// An optimizer for the trainable parameters of `model`.
    public init(_ model: Glow<B>, config: OptimizerConfig) throws {
        try config.validate()
        self.config = config; backend = model.backend
        parameters = model.parameters.filter(\.trainable)
        refreshModel = { [weak model] in try model?.refresh() }
        for p in parameters {
            m.append(try backend.zeros(p.count)); v.append(try backend.zeros(p.count))
            if config.ema != nil {
                let e = try backend.allocate(p.count)
                try backend.copy2D(p.value, srcOffset: 0, srcStride: 0, e, dstOffset: 0, dstStride: 0, rows: 1, cols: p.count)
                ema.append(e)
            }
        }
        norms = try backend.allocate(max(1, parameters.count))
    }

    /// The global gradient norm √Σ‖g‖² (one small download per step).
    public func gradientNorm() throws -> Double {
        for (i, p) in parameters.enumerated() {
            try backend.sumOfSquares(try p.gradient(), count: p.count, out: norms, outIndex: i)
        }
        return try backend.download(norms, offset: 0, count: parameters.count).reduce(0.0) { $0 + Double($1) }.squareRoot()
    }

    /// Applies one update with the gradients in the parameters, at learning rate `lr`,
    /// scaling gradients by `gradScale` (clipping).
    public func apply(learningRate lr: Double, gradScale: Double) throws {
        step += 1
        let c1 = 1 / (1 - pow(config.beta1, Double(step))), c2 = 1 / (1 - pow(config.beta2, Double(step)))
        for (i, p) in parameters.enumerated() {
            try backend.adamUpdate(p.value, gradient: try p.gradient(), m: m[i], v: v[i], count: p.count,
                                   learningRate: Float(lr), beta1: Float(config.beta1), beta2: Float(config.beta2),
                                   epsilon: Float(config.epsilon), correction1: Float(c1), correction2: Float(c2),
                                   gradScale: Float(gradScale), adamax: config.kind == .adamax)
        }
        if let d = config.ema {
            // ema = d·ema + (1-d)·p, as ema += (1-d)·(p - ema).
            for (i, p) in parameters.enumerated() {
                let t = try backend.allocate(p.count)
                try backend.binary(.subtract, p.value, aOffset: 0, ema[i], bOffset: 0, y: t, yOffset: 0, count: p.count)
                try backend.scale(t, xOffset: 0, alpha: Float(1 - d), beta: 0, y: t, yOffset: 0, count: p.count)
                try backend.binary(.add, ema[i], aOffset: 0, t, bOffset: 0, y: ema[i], yOffset: 0, count: p.count)
            }
        }
    }

    /// Swaps the live weights with their EMA (call twice to swap back) and refreshes what
    /// the model derives from them, so evaluation and sampling use the EMA weights
    /// throughout; no-op without EMA.
    public func swapEMA() throws {
        guard config.ema != nil else { return }
        for (i, p) in parameters.enumerated() {
            let t = try backend.allocate(p.count)
            try backend.copy2D(p.value, srcOffset: 0, srcStride: 0, t, dstOffset: 0, dstStride: 0, rows: 1, cols: p.count)
            try backend.copy2D(ema[i], srcOffset: 0, srcStride: 0, p.value, dstOffset: 0, dstStride: 0, rows: 1, cols: p.count)
            try backend.copy2D(t, srcOffset: 0, srcStride: 0, ema[i], dstOffset: 0, dstStride: 0, rows: 1, cols: p.count)
        }
        try refreshModel()
    }

    /// The state as tensors (`m.<name>`, `v.<name>`, `ema.<name>`) plus the step.
    public func state(into file: inout SafeTensorsFile) throws {
        file.metadata["optimizer_step"] = String(step)
        for (i, p) in parameters.enumerated() {
            try file.add("m." + p.name, shape: p.shape, floats: try backend.download(m[i]))
            try file.add("v." + p.name, shape: p.shape, floats: try backend.download(v[i]))
            if config.ema != nil { try file.add("ema." + p.name, shape: p.shape, floats: try backend.download(ema[i])) }
        }
    }

    /// Restores what `state(into:)` saved.
    public func restore(from file: SafeTensorsFile, source: String) throws {
        guard let s = file.metadata["optimizer_step"], let n = Int(s) else {
            throw GlowError("\(source): no optimizer_step in the training state")
        }
        step = n
        do {
            for (i, p) in parameters.enumerated() {
                try backend.upload(try file.requireFloats("m." + p.name, shape: p.shape), to: m[i], offset: 0)
                try backend.upload(try file.requireFloats("v." + p.name, shape: p.shape), to: v[i], offset: 0)
                if config.ema != nil {
                    try backend.upload(try file.requireFloats("ema." + p.name, shape: p.shape), to: ema[i], offset: 0)
                }
            }
        } catch let e as SafeTensorsError { throw GlowError(e.message) }
    }
}
