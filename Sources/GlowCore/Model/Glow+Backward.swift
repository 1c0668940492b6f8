/// How much of the forward pass training keeps for the backward pass.
public enum MemoryMode: String, Sendable, CaseIterable {
    /// Keep every step's input and its coupling network's activations: the most memory,
    /// no recomputation.
    case store
    /// Keep only the latents and recover each step's input from its output through the
    /// inverse during the backward pass, so activation memory does not grow with depth.
    case reversible
}

/// The result of `Glow.gradients`: the forward pass's per-image terms.
public struct TrainingPass {
    /// Per image bits per dimension (the objective).
    public let bpd: [Double]
    /// Per image classifier cross-entropy in nats (class-conditional models).
    public let crossEntropy: [Double]?
    /// Mean bpd.
    public var meanBPD: Double { bpd.reduce(0, +) / Double(max(bpd.count, 1)) }
    /// The loss whose gradients were computed: mean bpd, plus for class-conditional models
    /// `y_weight · mean cross-entropy / ln 2`.
    public var loss: Double {
        guard let ce = crossEntropy, !ce.isEmpty else { return meanBPD }
        return meanBPD + GlowConfig.classWeight * ce.reduce(0, +) / Double(ce.count) / Foundation.log(2.0)
    }
}

extension Glow {
    /// Forward and backward for the loss `mean bpd` of the batch `x`: every parameter's
    /// `gradient()` holds ∂loss/∂parameter afterwards. Reads the per-image terms back once,
    /// at the end.
    public func gradients(_ x: Tensor<B>, labels: [Int]? = nil, memory: MemoryMode) throws -> TrainingPass {
        let record = try StepRecord(backend, images: x.images)
        let crossEntropy = try enqueueGradients(x, labels: labels, memory: memory, record: record)
        return pass(try record.read(backend), crossEntropy: crossEntropy)
    }

    /// The per-image bpd from a step record's log-determinants and log-densities.
    public func pass(_ values: StepRecord<B>.Values, crossEntropy: [Double]?) -> TrainingPass {
        let d = Double(config.dimension)
        let quant = d * Foundation.log(Double(1 << config.nBits))
        let bpd = zip(values.logp, values.logdet).map { -(Double($0) + Double($1) - quant) / (d * Foundation.log(2.0)) }
        return TrainingPass(bpd: bpd, crossEntropy: crossEntropy)
    }

    /// `gradients` without reading anything back: the forward pass accumulates each
    /// image's log-determinant and log-density into `record`, the backward pass fills every
    /// parameter's `gradient()`, and the host does not wait (the gradient's scale,
    /// `-1/(N·D·ln 2)`, does not depend on the forward pass's values). Returns the
    /// classifier's cross-entropy per image for class-conditional models (computed on the
    /// host: those models wait for it), nil otherwise.
    public func enqueueGradients(_ x: Tensor<B>, labels: [Int]? = nil, memory: MemoryMode,
                                 record: StepRecord<B>) throws -> [Double]? {
        try checkInput(x)
        guard isInitialized else { throw GlowError("the model's ActNorms are not initialised; run an initial batch first") }
        guard record.images == x.images else {
            throw GlowError("the step record holds \(record.images) images but the batch has \(x.images)")
        }
        let n = x.images
        let ctx = try FlowContext(backend, record: record, keepActivations: memory == .store)
        // Forward, keeping step inputs (store) or nothing but the latents (reversible).
        var stored: [[Tensor<B>]] = []
        var h = x
        var latents: [Tensor<B>] = []
        for level in levels {
            h = try level.squeeze(h)
            var inputs: [Tensor<B>] = []
            for step in level.steps {
                if memory == .store { inputs.append(h) }
                h = try step.forward(h, ctx)
            }
            stored.append(inputs)
            if let split = level.split {
                let (z1, z2) = try split.forward(h, ctx)
                latents.append(z2)
                h = z1
            }
        }
        try top.logDensity(h, labels: labels, ctx)
        let d = Double(config.dimension)

        // loss = -(1/(N·D·ln 2)) Σ_n (log p_n + logdet_n): one scale for both.
        let g = Float(-1 / (Double(n) * d * Foundation.log(2.0)))
        var out = h
        let classScale = Float(GlowConfig.classWeight / (Double(n) * Foundation.log(2.0)))
        var dout = try top.backward(h, labels: labels, scale: g, classScale: classScale)
        for i in stride(from: config.L - 1, through: 0, by: -1) {
            let level = levels[i]
            if let split = level.split {
                (out, dout) = try split.backward(z1: out, z2: latents[i], dz1: dout, scale: g)
            }
            for (k, step) in level.steps.enumerated().reversed() {
                let input = memory == .store ? stored[i][k] : nil
                (out, dout) = try step.backward(input: input, output: out, dy: dout, logdetGrad: g, kept: ctx)
            }
            if i > 0 {  // the data's own gradient is not needed
                out = try level.unsqueeze(out)
                dout = try level.unsqueeze(dout)
            }
        }
        return ctx.crossEntropy
    }
}

import Foundation
