/// Analytic FLOP counts of the model (multiply and add count as two). Elementwise work
/// (ActNorm, couplings, priors) is left out: it is O(C·H·W) against the convolutions'
/// O(hidden²·H·W).
public enum FlopCount {
    /// Forward FLOPs for one image: per level i (C channels, H·W positions, hidden h),
    /// per step `2·HW·(h·(C/2)·9 + h² + Cout·h·9 + C²)` with Cout = C (affine) or C/2
    /// (additive) — conv1, conv2, Conv2dZeros, 1×1 invertible convolution — plus the
    /// split's `2·HW·C·(C/2)·9`. The top prior's convolution acts on zeros and is skipped.
    public static func forwardPerImage(_ c: GlowConfig) -> Double {
        var total = 0.0
        for i in 0..<c.L {
            let ch = Double(c.levelChannels(i)), hw = Double(c.levelHeight(i) * c.levelWidth(i)), h = Double(c.hidden)
            let cout = c.coupling == .affine ? ch : ch / 2
            let step = 2 * hw * (h * ch / 2 * 9 + h * h + cout * h * 9 + (c.permutation == .invconv ? ch * ch : 0))
            total += Double(c.K) * step
            if i < c.L - 1 { total += 2 * hw * ch * ch / 2 * 9 }
        }
        return total
    }

    /// Training FLOPs for one image: forward plus backward (gradients for data and
    /// weights, twice the forward), `3 ×` forward. The coupling network's forward pass
    /// that the backward pass recomputes is not counted as useful work.
    public static func trainingPerImage(_ c: GlowConfig) -> Double { 3 * forwardPerImage(c) }
}
