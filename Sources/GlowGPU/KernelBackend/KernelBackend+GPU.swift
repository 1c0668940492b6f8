import GlowCore

// The GPU variant's launches (kernels.cl, section "GPU variant"): tiled GEMM with split K,
// 3×3 convolutions by implicit GEMM, and work-group tree reductions. The CPU variant's
// paths stay in KernelBackend+Operations.swift and the default lowering in GlowCore.
extension KernelBackend {
    /// Work-group geometry of one tiled GEMM over an `m × n` output: groups along N and M
    /// (NDIMC × MDIMC work-items each) and the split of K.
    func tiledLaunch(m: Int, n: Int, k: Int) -> (global: [Int], local: [Int], splits: Int, kspan: Int) {
        let g = tuning.gemmGeometry
        let tilesM = (m + g.mwg - 1) / g.mwg, tilesN = (n + g.nwg - 1) / g.nwg
        let (splits, kspan) = splitK(tiles: tilesM * tilesN, k: k)
        return ([tilesN * g.ndimc, tilesM * g.mdimc, splits], [g.ndimc, g.mdimc, 1], splits, kspan)
    }

    /// How many K ranges a GEMM with `tiles` output tiles is cut into: enough groups to reach
    /// `GROUPS_TARGET` (the weight gradients, K = N·H·W, have few output tiles), but at
    /// least 8 KWG slices per range so the partial products pay for their extra pass.
    func splitK(tiles: Int, k: Int) -> (splits: Int, kspan: Int) {
        let kwg = tuning.gemmGeometry.kwg
        let target = tuning[.groupsTarget]
        guard tiles < target, k > 0 else { return (1, max(k, 1)) }
        let splits = min((target + tiles - 1) / tiles, max(1, k / (8 * kwg)), 64)
        if splits <= 1 { return (1, k) }
        let kspan = (((k + splits - 1) / splits + kwg - 1) / kwg) * kwg
        return ((k + kspan - 1) / kspan, kspan)
    }

    /// `gemm` on the GPU variant: `gemm_tiled`, with split-K partial products summed (and
    /// alpha, beta applied) by `gemm_splitk_reduce` when the output has too few tiles.
    func tiledGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                   a: Buffer, aOffset: Int, lda: Int, b: Buffer, bOffset: Int, ldb: Int,
                   beta: Float, c: Buffer, cOffset: Int, ldc: Int) throws {
        let t = tiledLaunch(m: m, n: n, k: k)
        func args(_ alpha: Float, _ beta: Float, _ c: Buffer, _ cOffset: Int, _ ldc: Int, _ cstride: Int) -> [OpArgument<Buffer>] {
            [.int(m), .int(n), .int(k), .float(alpha), .buffer(a), .int(aOffset), .int(lda), .int(transA ? 1 : 0),
             .buffer(b), .int(bOffset), .int(ldb), .int(transB ? 1 : 0), .float(beta), .buffer(c), .int(cOffset),
             .int(ldc), .int(t.kspan), .int(cstride)]
        }
        if t.splits == 1 {
            try launch(.gemmTiled, args(alpha, beta, c, cOffset, ldc, 0), global: t.global, local: t.local)
            return
        }
        let parts = try allocate(t.splits * m * n)
        try launch(.gemmTiled, args(1, 0, parts, 0, n, m * n), global: t.global, local: t.local)
        try reduceSplits(parts, splits: t.splits, m: m, n: n, alpha: alpha, beta: beta, c: c, cOffset: cOffset, ldc: ldc)
    }

    /// `C = alpha · Σ_z parts[z] + beta · C`.
    func reduceSplits(_ parts: Buffer, splits: Int, m: Int, n: Int, alpha: Float, beta: Float,
                      c: Buffer, cOffset: Int, ldc: Int) throws {
        try launch(.gemmSplitKReduce, [.buffer(parts), .int(splits), .int(m), .int(n), .float(alpha), .float(beta),
                                       .buffer(c), .int(cOffset), .int(ldc)],
                   global: [n, m], local: [tuning[.wgElementwise], 1])
    }

    /// A work-group reduction of `rows` sums of `length` terms each into `out` from
    /// `outOffset` (`accumulate`: added to it). `kernel` is one of the `…_wg` kernels;
    /// `args(chunk, destination, destinationOffset, accumulate)` builds its arguments (only
    /// `row_sums_wg` takes an offset; the others are called with offset 0). A row gets
    /// several groups (chunks) when `rows` alone would not fill the device and each
    /// work-item would still sum ≥ 16 terms; `row_sums_wg` then adds the chunks' partial sums.
    func groupReduce(_ kernel: Kernel, rows: Int, length: Int, out: Buffer, outOffset: Int = 0, accumulate: Bool,
                     _ args: (Int, Buffer, Int, Bool) -> [OpArgument<Buffer>]) throws {
        if rows == 0 { return }
        let wg = tuning[.wgReduce]
        let target = tuning[.groupsTarget]
        let chunksWanted = min((length + wg * 16 - 1) / (wg * 16), (target + rows - 1) / rows, 1024)
        let chunk = max(1, (length + max(1, chunksWanted) - 1) / max(1, chunksWanted))
        let groups = max(1, (length + chunk - 1) / chunk)
        if groups == 1 {
            try launch(kernel, args(max(length, 1), out, outOffset, accumulate), global: [wg, rows], local: [wg, 1])
            return
        }
        let partial = try allocate(rows * groups)
        try launch(kernel, args(chunk, partial, 0, false), global: [groups * wg, rows], local: [wg, 1])
        try launch(.rowSumsWG, [.buffer(partial), .int(0), .int(groups), .int(0), .int(groups), .buffer(out), .int(outOffset),
                                .int(accumulate ? 1 : 0)], global: [wg, rows], local: [wg, 1])
    }

    // MARK: 3×3 convolution

    /// True when the GPU variant runs this convolution by implicit GEMM. A narrow output
    /// (Conv2dZeros: hidden → C, with O filling less than half of an MWG-row tile) keeps the
    /// lowering with taps on the output side instead: its GEMMs have M = 9·O, which fills
    /// the tile, and its scratch is the 9·O·P columns of the narrow side, not 9·C·P.
    func implicitConv3x3(inChannels c: Int, outChannels o: Int) -> Bool {
        guard implicitConvolutions else { return false }
        let mwg = tuning.gemmGeometry.mwg
        let used = Double(o) / Double(((o + mwg - 1) / mwg) * mwg)
        return !(o < c && used < 0.5)
    }

    public func conv3x3ScratchCount(inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int) -> Int {
        implicitConv3x3(inChannels: inChannels, outChannels: outChannels) ? 0
            : loweredConv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images,
                                         height: height, width: width)
    }

    public func conv3x3Forward(_ x: Buffer, xOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int,
                               images: Int, height: Int, width: Int, y: Buffer, yOffset: Int, columns: Buffer?) throws {
        guard implicitConv3x3(inChannels: inChannels, outChannels: outChannels) else {
            return try loweredConv3x3Forward(x, xOffset: xOffset, weight: weight, inChannels: inChannels,
                                             outChannels: outChannels, images: images, height: height, width: width,
                                             y: y, yOffset: yOffset, columns: columns)
        }
        let p = images * height * width
        guard p > 0, outChannels > 0 else { return }
        if inChannels == 0 { return try fill(y, offset: yOffset, count: outChannels * p, value: 0) }
        let t = tiledLaunch(m: outChannels, n: p, k: 0)   // k 0: no split (K is 9·C, short)
        try launch(.conv3x3Forward, [.buffer(x), .int(xOffset), .buffer(weight), .int(inChannels), .int(outChannels),
                                     .int(images), .int(height), .int(width), .buffer(y), .int(yOffset)],
                   global: t.global, local: t.local)
    }

    public func conv3x3BackwardData(_ dy: Buffer, dyOffset: Int, weight: Buffer, inChannels: Int, outChannels: Int,
                                    images: Int, height: Int, width: Int, dx: Buffer, dxOffset: Int, columns: Buffer?) throws {
        guard implicitConv3x3(inChannels: inChannels, outChannels: outChannels) else {
            return try loweredConv3x3BackwardData(dy, dyOffset: dyOffset, weight: weight, inChannels: inChannels,
                                                  outChannels: outChannels, images: images, height: height, width: width,
                                                  dx: dx, dxOffset: dxOffset, columns: columns)
        }
        let p = images * height * width
        guard p > 0, inChannels > 0, outChannels > 0 else { return }
        let t = tiledLaunch(m: inChannels, n: p, k: 0)   // no split
        try launch(.conv3x3BackwardData, [.buffer(dy), .int(dyOffset), .buffer(weight), .int(inChannels),
                                          .int(outChannels), .int(images), .int(height), .int(width), .buffer(dx),
                                          .int(dxOffset)],
                   global: t.global, local: t.local)
    }

    public func conv3x3BackwardWeights(_ x: Buffer, xOffset: Int, dy: Buffer, dyOffset: Int, inChannels: Int,
                                       outChannels: Int, images: Int, height: Int, width: Int, dw: Buffer,
                                       columns: Buffer?) throws {
        guard implicitConv3x3(inChannels: inChannels, outChannels: outChannels) else {
            return try loweredConv3x3BackwardWeights(x, xOffset: xOffset, dy: dy, dyOffset: dyOffset,
                                                     inChannels: inChannels, outChannels: outChannels, images: images,
                                                     height: height, width: width, dw: dw, columns: columns)
        }
        let p = images * height * width, n = 9 * inChannels
        guard inChannels > 0, outChannels > 0 else { return }
        if p == 0 { return try fill(dw, offset: 0, count: outChannels * n, value: 0) }
        let t = tiledLaunch(m: outChannels, n: n, k: p)
        func args(_ dst: Buffer, _ cstride: Int) -> [OpArgument<Buffer>] {
            [.buffer(x), .int(xOffset), .buffer(dy), .int(dyOffset), .int(inChannels), .int(outChannels), .int(images),
             .int(height), .int(width), .buffer(dst), .int(t.kspan), .int(cstride)]
        }
        if t.splits == 1 {
            try launch(.conv3x3BackwardWeights, args(dw, 0), global: t.global, local: t.local)
            return
        }
        let parts = try allocate(t.splits * outChannels * n)
        try launch(.conv3x3BackwardWeights, args(parts, outChannels * n), global: t.global, local: t.local)
        try reduceSplits(parts, splits: t.splits, m: outChannels, n: n, alpha: 1, beta: 0, c: dw, cOffset: 0, ldc: n)
    }
}
