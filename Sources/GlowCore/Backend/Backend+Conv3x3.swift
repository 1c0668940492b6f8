/// The lowered 3×3 convolution every backend gets by default: im2col of the wide side plus
/// one GEMM. When the output is narrower than the input (Conv2dZeros: hidden → C) the GEMM
/// runs per tap on the output side, `Y[(o, t), P] = W_t · x`, followed by a shift-and-add
/// (`col2im3x3`), and the backward passes use im2col of the narrow `dy`, so the 9·C·P
/// columns of the wide input are never formed. Scratch: `min(C, O)·9·P` floats.
extension Backend {
    public func conv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int {
        loweredConv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images, height: height, width: width)
    }

    public func conv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int,
                               images: Int, height: Int, width: Int, y: Buffer, yOffset: Int, columns: Buffer?) throws {
        try loweredConv3x3Forward(x, xOffset: xOffset, weight: weight, inChannels: inChannels, outChannels: outChannels,
                                  images: images, height: height, width: width, y: y, yOffset: yOffset, columns: columns)
    }

    public func conv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int,
                                    images: Int, height: Int, width: Int, dx: Buffer, dxOffset: Int, columns: Buffer?) throws {
        try loweredConv3x3BackwardData(dy, dyOffset: dyOffset, weight: weight, inChannels: inChannels,
                                       outChannels: outChannels, images: images, height: height, width: width,
                                       dx: dx, dxOffset: dxOffset, columns: columns)
    }

    public func conv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels: Int,
                                       outChannels: Int, images: Int, height: Int, width: Int, dw: Buffer,
                                       columns: Buffer?) throws {
        try loweredConv3x3BackwardWeights(x, xOffset: xOffset, dy: dy, dyOffset: dyOffset, inChannels: inChannels,
                                          outChannels: outChannels, images: images, height: height, width: width,
                                          dw: dw, columns: columns)
    }

    /// Allocates `count` floats of scratch, or returns nil when `count` is 0 (an operation
    /// that needs none).
    public func scratch(_ count: Int) throws -> Buffer? {
        count > 0 ? try allocate(count) : nil
    }

    // MARK: The lowering

    /// Scratch of the lowered convolution: `min(C, O)·9·P` floats.
    public func loweredConv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int {
        min(inChannels, outChannels) * 9 * images * height * width
    }

    /// `columns`, checked to hold `needed` floats, or fresh scratch when nil.
    func conv3x3Columns(_ columns: Buffer?, _ needed: Int) throws -> Buffer {
        guard let columns else { return try allocate(needed) }
        guard count(of: columns) >= needed else {
            throw GlowError("conv3x3: columns scratch of \(count(of: columns)) floats; \(needed) needed")
        }
        return columns
    }

    /// W re-laid as `[(o, t), C]` with the taps flipped (`t → 8 - t`): the A operand of the
    /// output-side GEMM.
    func conv3x3FlippedWeights(_ weight: Buffer, inChannels c: Int, outChannels o: Int) throws -> Buffer {
        let wf = try allocate(o * 9 * c)
        try flipTaps3x3(weight, wf, outChannels: o, inChannels: c, toTaps: true)
        return wf
    }

    /// `conv3x3Forward` by im2col + GEMM (or taps on the output side when `O < C`).
    public func loweredConv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels c: Int, outChannels o: Int,
                                      images: Int, height: Int, width: Int, y: Buffer, yOffset: Int,
                                      columns: Buffer?) throws {
        let p = images * height * width
        let cols = try conv3x3Columns(columns, loweredConv3x3ScratchCount(inChannels: c, outChannels: o, images: images,
                                                                          height: height, width: width))
        if o < c {
            try gemm(transA: false, transB: false, m: o * 9, n: p, k: c, alpha: 1,
                     a: try conv3x3FlippedWeights(weight, inChannels: c, outChannels: o), aOffset: 0, lda: c,
                     b: x, bOffset: xOffset, ldb: p, beta: 0, c: cols, cOffset: 0, ldc: p)
            try fill(y, offset: yOffset, count: o * p, value: 0)
            try col2im3x3(cols, channels: o, images: images, height: height, width: width, x: y, xOffset: yOffset)
            return
        }
        try im2col3x3(x, xOffset: xOffset, channels: c, images: images, height: height, width: width, columns: cols)
        try gemm(transA: false, transB: false, m: o, n: p, k: c * 9, alpha: 1, a: weight, aOffset: 0, lda: c * 9,
                 b: cols, bOffset: 0, ldb: p, beta: 0, c: y, cOffset: yOffset, ldc: p)
    }

    /// `conv3x3BackwardData` lowered: `col2im(Wᵀ · dy)`, or with taps on the output side
    /// `dx += Wflipᵀ · im2col(dy)`.
    public func loweredConv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels c: Int,
                                           outChannels o: Int, images: Int, height: Int, width: Int,
                                           dx: Buffer, dxOffset: Int, columns: Buffer?) throws {
        let p = images * height * width
        let cols = try conv3x3Columns(columns, loweredConv3x3ScratchCount(inChannels: c, outChannels: o, images: images,
                                                                          height: height, width: width))
        if o < c {
            try im2col3x3(dy, xOffset: dyOffset, channels: o, images: images, height: height, width: width, columns: cols)
            try gemm(transA: true, transB: false, m: c, n: p, k: o * 9, alpha: 1,
                     a: try conv3x3FlippedWeights(weight, inChannels: c, outChannels: o), aOffset: 0, lda: c,
                     b: cols, bOffset: 0, ldb: p, beta: 1, c: dx, cOffset: dxOffset, ldc: p)
            return
        }
        try gemm(transA: true, transB: false, m: c * 9, n: p, k: o, alpha: 1, a: weight, aOffset: 0, lda: c * 9,
                 b: dy, bOffset: dyOffset, ldb: p, beta: 0, c: cols, cOffset: 0, ldc: p)
        try col2im3x3(cols, channels: c, images: images, height: height, width: width, x: dx, xOffset: dxOffset)
    }

    /// `conv3x3BackwardWeights` lowered: `dy · im2col(x)ᵀ`, or with taps on the output side
    /// `im2col(dy) · xᵀ` re-laid into `[O, C, 3, 3]`.
    public func loweredConv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels c: Int,
                                              outChannels o: Int, images: Int, height: Int, width: Int, dw: Buffer,
                                              columns: Buffer?) throws {
        let p = images * height * width
        let cols = try conv3x3Columns(columns, loweredConv3x3ScratchCount(inChannels: c, outChannels: o, images: images,
                                                                          height: height, width: width))
        if o < c {
            // colDy[(o,t), q] = dy[o, q + s_t]; ∂W[o, c, t] = Σ_q colDy[(o, 8-t), q] x[c, q].
            let o9 = o * 9
            try im2col3x3(dy, xOffset: dyOffset, channels: o, images: images, height: height, width: width, columns: cols)
            let g = try allocate(o9 * c)
            try gemm(transA: false, transB: true, m: o9, n: c, k: p, alpha: 1, a: cols, aOffset: 0, lda: p,
                     b: x, bOffset: xOffset, ldb: p, beta: 0, c: g, cOffset: 0, ldc: c)
            try flipTaps3x3(g, dw, outChannels: o, inChannels: c, toTaps: false)
            return
        }
        try im2col3x3(x, xOffset: xOffset, channels: c, images: images, height: height, width: width, columns: cols)
        try gemm(transA: false, transB: true, m: o, n: c * 9, k: p, alpha: 1, a: dy, aOffset: dyOffset, lda: p,
                 b: cols, bOffset: 0, ldb: p, beta: 0, c: dw, cOffset: 0, ldc: c * 9)
    }
}
