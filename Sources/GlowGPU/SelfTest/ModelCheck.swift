import Foundation
import GlowCore

/// The whole-model part of the self-test: a `tiny` Glow made on the reference backend
/// (ActNorms initialised from data, zero-initialised layers given small random values so
/// every part of the flow acts), loaded on the device under test from its checkpoint
/// bytes, then encoded, decoded, sampled and differentiated on both.
enum ModelCheck {
    static let images = 3

    static func rows<R: Backend, S: Backend>(reference: R, subject: S, precision: GEMMPrecision = .fp32) -> [SelfTestRow] {
        var rows: [SelfTestRow] = []
        let tf32 = precision == .tf32
        // FP32's tolerance, or with TF32 in the coupling networks a multiple of TF32's input
        // error ε = 2⁻¹⁰ (eps). The tiny model amplifies its GEMMs' input errors: with the CUDA
        // emulator's round-to-nearest TF32 the rows measure 18·ε (latents), 10·ε (samples),
        // 25·ε (gradients) and 0.02·ε (logdet + log p); the tolerances leave 3.5–6× that for
        // tensor cores that truncate (twice the error, and biased).
        let eps = TF32Tolerance.inputError
        func tolerance(_ fp32: Double, tf32 reduced: Double) -> Double { tf32 ? max(fp32, reduced) : fp32 }
        let config = (try? GlowConfig.named("tiny")) ?? GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 16)
        let label = "tiny K\(config.K) L\(config.L) hidden \(config.hidden), \(images)×\(config.channels)×\(config.height)×\(config.width)"
        let pixels = SelfTestInputs.values(images * config.dimension, stream: 40, low: -0.5, high: 0.5)

        func row(_ op: String, _ shape: String, _ tolerance: Double, _ body: () throws -> Double) {
            do {
                rows.append(SelfTestRow(op: op, shape: shape, maxRelativeError: try body(), tolerance: tolerance))
            } catch {
                rows.append(SelfTestRow(op: op, shape: shape, maxRelativeError: .infinity, tolerance: tolerance, failure: "\(error)"))
            }
        }

        let refModel: Glow<R>, model: Glow<S>, xr: Tensor<R>, xs: Tensor<S>
        do {
            refModel = try Glow(config: config, backend: reference, seed: 11)
            xr = try Tensor(reference, nchw: pixels, images: images, channels: config.channels, height: config.height, width: config.width)
            _ = try refModel.encode(xr, initialize: true)
            var stream: UInt64 = 500
            for p in refModel.parameters where p.name.contains("conv_zeros") {
                stream += 1
                try reference.upload(SelfTestInputs.values(p.count, stream: stream).map { $0 * 0.05 }, to: p.value, offset: 0)
            }
            try refModel.refresh()
            model = try Checkpoint.load(try Checkpoint.file(refModel), source: "selftest model", backend: subject)
            xs = try Tensor(subject, nchw: pixels, images: images, channels: config.channels, height: config.height, width: config.width)
        } catch {
            return [SelfTestRow(op: "model.load", shape: label, maxRelativeError: .infinity, tolerance: 0, failure: "\(error)")]
        }

        // Forward: latents (Float32 through 4 steps: 1e-4), then logdet and log p per image.
        var encoded: Encoding<S>?
        row("model.encode", label + " latents" + (tf32 ? " tf32" : ""), tolerance(1e-4, tf32: 64 * eps)) {
            let e = try model.encode(xs), r = try refModel.encode(xr)
            encoded = e
            var worst = 0.0
            for (z, zr) in zip(e.latents, r.latents) {
                worst = max(worst, ErrorMeasure.relative(floor: 1e-2).error(try z.nchw(), try zr.nchw()))
            }
            return worst
        }
        row("model.logdet+logp", label + (tf32 ? " tf32" : ""), tolerance(1e-4, tf32: eps)) {
            let e = try model.encode(xs), r = try refModel.encode(xr)
            let got = (e.logdet + e.logp).map(Float.init), want = (r.logdet + r.logp).map(Float.init)
            return ErrorMeasure.relative(floor: 1).error(got, want)
        }
        // Reverse: decode(encode(x)) = x on the device itself (|x| ≤ 0.5: floor 1 = absolute error).
        row("model.decode", label + " decode(encode(x)) - x", 1e-4) {
            guard let e = encoded else { throw GlowError("encode failed") }
            return ErrorMeasure.relative(floor: 1).error(try model.decode(e.latents).nchw(), pixels)
        }
        row("model.sample", label + " T=0.7 seed 5" + (tf32 ? " tf32" : ""), tolerance(1e-3, tf32: 64 * eps)) {
            ErrorMeasure.relative(floor: 1e-2).error(try model.sample(count: images, temperature: 0.7, seed: 5).nchw(),
                                                     try refModel.sample(count: images, temperature: 0.7, seed: 5).nchw())
        }
        // Backward: every parameter gradient, normwise per tensor (sums over the batch: 1e-4).
        for memory in MemoryMode.allCases {
            var worstName = ""
            row("model.gradients", label + " \(memory.rawValue)" + (tf32 ? " tf32" : ""), tolerance(1e-4, tf32: 128 * eps)) {
                let g = try model.gradients(xs, memory: memory), r = try refModel.gradients(xr, memory: memory)
                var worst = abs(g.loss - r.loss) / max(1, abs(r.loss))
                worstName = "loss"
                for (p, q) in zip(model.parameters, refModel.parameters) where p.trainable {
                    let e = ErrorMeasure.normwise.error(try subject.download(try p.gradient()), try reference.download(try q.gradient()))
                    if e > worst { worst = e; worstName = p.name }
                }
                return worst
            }
            if let last = rows.last, !last.ok, last.failure == nil {
                rows[rows.count - 1] = SelfTestRow(op: last.op, shape: last.shape + " (worst: \(worstName))",
                                                   maxRelativeError: last.maxRelativeError, tolerance: last.tolerance)
            }
        }
        return rows
    }
}
