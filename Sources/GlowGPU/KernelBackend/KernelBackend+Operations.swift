import GlowCore

// Every `Backend` operation that is a plain launch of kernels.cl, written once for all
// devices that run kernels.cl (OpenCL, CUDA). Work-group sizes come from `tuning`.
extension KernelBackend {
    /// 1-D elementwise launch over `total` items in work-groups of `WG_ELEMENTWISE`.
    func elementwise(_ kernel: Kernel, _ args: [OpArgument<Buffer>], total: Int) throws {
        try launch(kernel, args, global: [total], local: [tuning[.wgElementwise]])
    }

    /// Every `ElementOp` in one launch of its kernel over the work-items its last argument
    /// counts, with the arguments as given (checked against the kernel's declaration).
    public func run(_ op: ElementOp, _ args: [OpArgument<Buffer>]) throws {
        guard case let .int(total)? = args.last else {
            throw GlowError("\(op.name): the last argument must be the number of work-items (an int)")
        }
        try elementwise(Kernel(op), args, total: total)
    }

    public func fill(_ buffer: Buffer, offset: Int, count: Int, value: Float) throws {
        try elementwise(.fillValue, [.buffer(buffer), .int(offset), .float(value), .int(count)], total: count)
    }

    public func copy2D(_ src: Buffer, srcOffset: Int, srcStride: Int, _ dst: Buffer, dstOffset: Int,
                       dstStride: Int, rows: Int, cols: Int) throws {
        try launch(.copy2D, [.buffer(src), .int(srcOffset), .int(srcStride), .buffer(dst), .int(dstOffset),
                               .int(dstStride), .int(cols)], global: [cols, rows], local: [64, 1])
    }

    public func copyStrided(_ src: Buffer, srcOffset: Int, srcRowStride: Int, srcColStride: Int,
                            _ dst: Buffer, dstOffset: Int, dstRowStride: Int, dstColStride: Int,
                            rows: Int, cols: Int) throws {
        try launch(.copyStrided, [.buffer(src), .int(srcOffset), .int(srcRowStride), .int(srcColStride), .buffer(dst),
                                    .int(dstOffset), .int(dstRowStride), .int(dstColStride), .int(cols)],
                   global: [cols, rows], local: [rowLocal(16), 1])
    }

    /// The work-group width of a row-wise (2-D) elementwise launch: `cpu` keeps the size
    /// PoCL was measured with, `gpu` takes `WG_ELEMENTWISE`.
    func rowLocal(_ cpu: Int) -> Int {
        tuning.variant == .gpu ? tuning[.wgElementwise] : cpu
    }

    /// `gemm` from kernels.cl: op(B) packed into contiguous 64-column panels, then one
    /// register-tiled pass (`gemm_packed`, 4 × 64 outputs per work-item). The panels come
    /// from the buffer pool, so a steady-state step allocates nothing.
    public func kernelGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: Buffer, aOffset: Int, lda: Int, b: Buffer, bOffset: Int, ldb: Int,
                           beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws {
        if m == 0 || n == 0 { return }
        if k == 0 {   // C = beta · C
            for r in 0..<m { try scale(c, xOffset: cOffset + r * ldc, alpha: beta, beta: 0, y: c, yOffset: cOffset + r * ldc, count: n) }
            return
        }
        if tuning.variant == .gpu {
            try tiledGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, aOffset: aOffset, lda: lda,
                          b: b, bOffset: bOffset, ldb: ldb, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
            return
        }
        let panelCount = (n + 63) / 64
        let panels = try allocate(panelCount * 64 * k)
        try launch(.packPanels, [.buffer(b), .int(bOffset), .int(ldb), .int(transB ? 1 : 0), .int(k), .int(n),
                                 .buffer(panels)], global: [k, panelCount], local: [16, 1])
        try launch(.gemmPacked, [.int(m), .int(n), .int(k), .float(alpha), .buffer(a), .int(aOffset),
                                 .int(transA ? 1 : lda), .int(transA ? lda : 1), .buffer(panels),
                                 .float(beta), .buffer(c), .int(cOffset), .int(ldc)],
                   global: [(m + 3) / 4, panelCount], local: [tuning[.gemmLocal], 1])
    }

    public func im2col3x3(_ x: Buffer, xOffset: Int, channels: Int, images: Int, height: Int, width: Int,
                          columns: Buffer) throws {
        try launch(.im2col3x3, [.buffer(x), .int(xOffset), .int(images), .int(height), .int(width), .buffer(columns)],
                   global: [images * height * width, channels * 9], local: [64, 1])
    }

    public func col2im3x3(_ columns: Buffer, channels: Int, images: Int, height: Int, width: Int,
                          x: Buffer, xOffset: Int) throws {
        try launch(.col2im3x3, [.buffer(columns), .int(images), .int(height), .int(width), .buffer(x), .int(xOffset)],
                   global: [images * height * width, channels], local: [64, 1])
    }

    public func channelAffine(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, bias: Buffer,
                              logs: Buffer, factor: Float, reverse: Bool, relu: Bool, y: Buffer,
                              yOffset: Int) throws {
        if tuning.variant == .gpu {   // one launch, the exp per element (PoCL prefers exp per row)
            try launch(.channelAffineExp, [.buffer(x), .int(xOffset), .int(cols), .buffer(bias), .buffer(logs),
                                           .float(reverse ? -factor : factor), .int(reverse ? 1 : 0), .int(relu ? 1 : 0),
                                           .buffer(y), .int(yOffset)],
                       global: [cols, rows], local: [rowLocal(256), 1])
            return
        }
        let scale = try allocate(rows)
        try launch(.rowScale, [.buffer(logs), .float(reverse ? -factor : factor), .buffer(scale), .int(rows)],
                   global: [rows], local: [16])
        try launch(.channelAffine, [.buffer(x), .int(xOffset), .int(cols), .buffer(bias), .buffer(scale),
                                      .int(reverse ? 1 : 0), .int(relu ? 1 : 0), .buffer(y), .int(yOffset)],
                   global: [cols, rows], local: [256, 1])
    }

    public func binary(_ op: BinaryOp, _ a: Buffer, aOffset: Int, _ b: Buffer, bOffset: Int,
                       y: Buffer, yOffset: Int, count: Int) throws {
        try elementwise(.binaryOp, [.int(op.kernelCode), .buffer(a), .int(aOffset), .buffer(b), .int(bOffset),
                                      .buffer(y), .int(yOffset), .int(count)], total: count)
    }

    public func rowSums(_ x: Buffer, xOffset: Int, rows: Int, cols: Int, squares: Bool, out: Buffer) throws {
        if tuning.variant == .gpu {
            try groupReduce(.rowSumsWG, rows: rows, length: cols, out: out, accumulate: false) { chunk, dst, dstOffset, acc in
                [.buffer(x), .int(xOffset), .int(cols), .int(squares ? 1 : 0), .int(chunk), .buffer(dst), .int(dstOffset),
                 .int(acc ? 1 : 0)]
            }
            return
        }
        try launch(.rowSums, [.buffer(x), .int(xOffset), .int(rows), .int(cols), .int(squares ? 1 : 0), .buffer(out), .int(0)],
                   global: [rows], local: [1])
    }

    public func sumOfSquares(_ x: Buffer, count: Int, out: Buffer, outIndex: Int) throws {
        if tuning.variant == .gpu {
            try groupReduce(.rowSumsWG, rows: 1, length: count, out: out, outOffset: outIndex, accumulate: false) { chunk, dst, dstOffset, acc in
                [.buffer(x), .int(0), .int(count), .int(1), .int(chunk), .buffer(dst), .int(dstOffset), .int(acc ? 1 : 0)]
            }
            return
        }
        try launch(.rowSums, [.buffer(x), .int(0), .int(1), .int(count), .int(1), .buffer(out), .int(outIndex)],
                   global: [1], local: [1])
    }

    public func rowDots(_ a: Buffer, _ b: Buffer, rows: Int, cols: Int, out: Buffer) throws {
        if tuning.variant == .gpu {
            try groupReduce(.rowDotsWG, rows: rows, length: cols, out: out, accumulate: false) { chunk, dst, _, _ in
                [.buffer(a), .buffer(b), .int(cols), .int(chunk), .buffer(dst)]
            }
            return
        }
        try launch(.rowDots, [.buffer(a), .buffer(b), .int(rows), .int(cols), .buffer(out)], global: [rows], local: [1])
    }

    public func sampleSums(_ x: Buffer, xOffset: Int, rows: Int, images: Int, spatial: Int,
                           out: Buffer, accumulate: Bool) throws {
        if tuning.variant == .gpu {
            try groupReduce(.sampleSumsWG, rows: images, length: rows * spatial, out: out, accumulate: accumulate) { chunk, dst, _, acc in
                [.buffer(x), .int(xOffset), .int(rows), .int(images), .int(spatial), .int(chunk), .buffer(dst), .int(acc ? 1 : 0)]
            }
            return
        }
        try launch(.sampleSums, [.buffer(x), .int(xOffset), .int(rows), .int(images), .int(spatial), .buffer(out),
                                   .int(accumulate ? 1 : 0)], global: [images], local: [1])
    }

    public func squeeze(_ x: Buffer, y: Buffer, channels: Int, images: Int, height: Int, width: Int,
                        inverse: Bool) throws {
        let total = channels * images * height * width
        try elementwise(.squeeze2, [.buffer(x), .buffer(y), .int(images), .int(height), .int(width), .int(inverse ? 1 : 0),
                                     .int(total)], total: total)
    }

    public func affineCouplingBackward(_ x: Buffer, h: Buffer, dy: Buffer, half: Int, cols: Int,
                                       logdetGrad: Float, dx: Buffer, dh: Buffer) throws {
        try elementwise(.affineCouplingBackward, [.buffer(x), .buffer(h), .buffer(dy), .int(half), .int(cols), .float(logdetGrad),
                                                     .buffer(dx), .buffer(dh), .int(half * cols)], total: half * cols)
    }

    public func random(_ buffer: Buffer, offset: Int, count: Int, distribution: RandomDistribution,
                       seed: UInt64, stream: UInt64) throws {
        var normal = 1, low: Float = 0, high: Float = 1
        if case let .uniform(l, h) = distribution { normal = 0; low = l; high = h }
        try elementwise(.philoxFill, [.buffer(buffer), .int(offset), .int(count),
                                        .uint(UInt32(truncatingIfNeeded: seed)), .uint(UInt32(truncatingIfNeeded: seed >> 32)),
                                        .uint(UInt32(truncatingIfNeeded: stream)), .uint(UInt32(truncatingIfNeeded: stream >> 32)),
                                        .int(normal), .float(low), .float(high)], total: (count + 3) / 4)
    }
}
