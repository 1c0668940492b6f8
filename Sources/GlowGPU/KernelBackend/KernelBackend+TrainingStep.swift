import GlowCore

// The training-step operations (Backend+TrainingStep.swift in GlowCore) as launches of
// kernels.cl's add_scaled_sum, lu_weight, lu_inverse, lu_backward, step_decide and
// arena_update: one launch each, nothing read back.
extension KernelBackend {
    public func addScaledSum(_ x: Buffer, xOffset: Int, count: Int, scale: Float, out: Buffer, outOffset: Int, outCount: Int) throws {
        try launch(.addScaledSum, [.buffer(x), .int(xOffset), .int(count), .float(scale), .buffer(out), .int(outOffset),
                                   .int(outCount)], global: [outCount], local: [tuning.variant == .gpu ? 64 : 1])
    }

    /// A `channels × channels` launch of one LU kernel, work-item (j, i).
    private func luLaunch(_ kernel: Kernel, _ args: [OpArgument<Buffer>], channels c: Int) throws {
        let l = tuning.variant == .gpu ? 16 : 1
        try launch(kernel, args, global: [c, c], local: [l, l])
    }

    public func luWeight(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int, weight: Buffer) throws {
        try luLaunch(.luWeight, [.buffer(p), .buffer(lower), .buffer(upper), .buffer(logS), .buffer(signS), .int(channels),
                                 .buffer(weight)], channels: channels)
    }

    public func luInverse(p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int, inverse: Buffer) throws {
        try launch(.luInverse, [.buffer(p), .buffer(lower), .buffer(upper), .buffer(logS), .buffer(signS), .int(channels),
                                .buffer(inverse)], global: [channels], local: [tuning.variant == .gpu ? 32 : 1])
    }

    public func luBackward(dw: Buffer, p: Buffer, lower: Buffer, upper: Buffer, logS: Buffer, signS: Buffer, channels: Int,
                           logdetScale: Float, gLower: Buffer, gUpper: Buffer, gLogS: Buffer) throws {
        try luLaunch(.luBackward, [.buffer(dw), .buffer(p), .buffer(lower), .buffer(upper), .buffer(logS), .buffer(signS),
                                   .int(channels), .float(logdetScale), .buffer(gLower), .buffer(gUpper), .buffer(gLogS)],
                     channels: channels)
    }

    public func stepDecide(record: Buffer, scalars: Buffer) throws {
        try launch(.stepDecide, [.buffer(record), .buffer(scalars)], global: [1], local: [1])
    }

    public func arenaUpdate(_ parameters: Buffer, gradients: Buffer, m: Buffer, v: Buffer, ema: Buffer?, record: Buffer,
                            scalars: Buffer, count: Int, beta1: Float, beta2: Float, epsilon: Float, adamax: Bool) throws {
        try elementwise(.arenaUpdate, [.buffer(parameters), .buffer(gradients), .buffer(m), .buffer(v), .buffer(ema ?? parameters),
                                       .buffer(record), .buffer(scalars), .float(beta1), .float(beta2), .float(epsilon),
                                       .int(adamax ? 1 : 0), .int(ema == nil ? 0 : 1), .int(count)], total: count)
    }

    public func channelAffineBackward(dy: Buffer, y: Buffer, logs: Buffer, factor: Float, rows: Int, cols: Int,
                                      logsConstant: Float, relu: Bool, dx: Buffer, gradBias: Buffer, gradLogs: Buffer) throws {
        if tuning.variant == .gpu {
            let wg = tuning[.wgReduce]
            try launch(.channelAffineBackwardWG, [.buffer(dy), .buffer(y), .buffer(logs), .float(factor), .int(cols),
                                                  .float(logsConstant), .int(relu ? 1 : 0), .buffer(dx), .buffer(gradBias),
                                                  .buffer(gradLogs)],
                       global: [wg * rows], local: [wg])
            return
        }
        var d = dy
        if relu {   // the mask first, into dx (the kernel then works in place)
            try binary(.reluBackward, y, aOffset: 0, dy, bOffset: 0, y: dx, yOffset: 0, count: rows * cols)
            d = dx
        }
        try launch(.channelAffineBackward, [.buffer(d), .buffer(y), .buffer(logs), .float(factor), .int(rows), .int(cols),
                                            .float(logsConstant), .buffer(dx), .buffer(gradBias), .buffer(gradLogs)],
                   global: [rows], local: [1])
    }

    public func dequantize(_ pixels: Buffer, images: Int, channels: Int, height: Int, width: Int, nBits: Int,
                           scalars: Buffer, x: Buffer) throws {
        let total = images * channels * height * width
        try elementwise(.dequantize, [.buffer(pixels), .int(images), .int(channels), .int(height * width), .int(8 - nBits),
                                      .float(1 / Float(1 << nBits)), .buffer(scalars), .buffer(x), .int(total)], total: total)
    }
}
