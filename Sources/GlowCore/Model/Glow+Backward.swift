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
    /// `gradient()` holds ∂loss/∂parameter afterwards.
    public func gradients(_ x: Tensor<B>, labels: [Int]? = nil, memory: MemoryMode) throws -> TrainingPass {
        try checkInput(x)
        guard isInitialized else { throw GlowError("the model's ActNorms are not initialised; run an initial batch first") }
        let n = x.images
        let ctx = try FlowContext(backend, images: n, keepActivations: memory == .store)
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
        let quant = d * Foundation.log(Double(1 << config.nBits))
        let logdet = try backend.download(ctx.logdet).map { Double($0) + ctx.logdetConstant }
        let logp = try backend.download(ctx.logp).map(Double.init)
        let bpd = zip(logp, logdet).map { -($0 + $1 - quant) / (d * Foundation.log(2.0)) }

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
        return TrainingPass(bpd: bpd, crossEntropy: ctx.crossEntropy)
    }
}

import Foundation
