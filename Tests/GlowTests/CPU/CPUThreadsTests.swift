import Foundation
import XCTest
@testable import GlowCore
@testable import GlowCPU
@testable import GlowGPU

/// The CPU backend on several threads (issue 19): every operation cut by its sizes alone, so
/// 1, 2, 3 and 4 threads give bitwise the same floats, which still match Float64; the
/// thread count's defaults (affinity mask, cgroup quota, MPI share) and `--threads`.
final class CPUThreadsTests: XCTestCase {
    /// A cut so fine that the tests' small operations split like full-size ones: elementwise
    /// chunks of 64 floats, sums in blocks of 32, GEMM parts from 2 kFLOP.
    static let fine = CPUPartition(elementGrain: 64, sumBlock: 32, gemmPartFlops: 2_000, gemmMaxParts: 16, gemmMinRows: 4,
                                   gemmMinColumns: 16, gemmMinDepth: 16)

    static let threadCounts = [1, 2, 3, 4]

    // MARK: GEMM

    /// Float64 `alpha · op(A) · op(B) + beta · C`, row-major.
    func referenceGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: [Float], b: [Float],
                       beta: Double, c: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = Double(transA ? a[p * m + i] : a[i * k + p]), y = Double(transB ? b[j * k + p] : b[p * n + j])
                    s += x * y
                }
                out[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * Double(c[i * n + j]))
            }
        }
        return out
    }

    /// Every cut of `CPUPartition.gemm` at full size (whole, column ranges, row ranges, split
    /// K), every transpose, with beta 0 on NaN-poisoned C and with
    /// beta 0.5: the same bits on 1–4 threads, within 1e-5 (normwise) of Float64.
    func testGEMMCutsMatchFloat64OnEveryThreadCount() throws {
        let partition = CPUPartition.standard
        let shapes: [(m: Int, n: Int, k: Int, split: CPUPartition.GemmSplit)] = [
            (8, 8, 8, .whole), (32, 1344, 96, .columns), (256, 96, 192, .rows), (24, 200, 1024, .depth), (64, 64, 1024, .depth),
        ]
        for s in shapes {
            XCTAssertEqual(partition.gemm(m: s.m, n: s.n, k: s.k).split, s.split, "the cut of \(s.m)×\(s.n)×\(s.k)")
            if s.split != .whole { XCTAssertGreaterThan(partition.gemm(m: s.m, n: s.n, k: s.k).parts, 1) }
        }
        let backends = Self.threadCounts.map { CPUBackend(threads: $0, partition: partition) }
        for (index, s) in shapes.enumerated() {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = randomValues(s.m * s.k, stream: UInt64(100 + index)), b = randomValues(s.k * s.n, stream: UInt64(200 + index))
                let c0 = randomValues(s.m * s.n, stream: UInt64(300 + index))
                let product = referenceGEMM(transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: 0.75, a: a, b: b,
                                            beta: 0, c: c0)
                for beta: Float in [0, 0.5] {
                    let reference = zip(product, c0).map { $0 + Double(beta) * Double($1) }
                    var first: [Float]?
                    for backend in backends {
                        let ab = try backend.makeBuffer(a), bb = try backend.makeBuffer(b)
                        let cb = beta == 0 ? try backend.nanFilled(s.m * s.n) : try backend.makeBuffer(c0)
                        try backend.gemm(transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: 0.75, a: ab, aOffset: 0,
                                         lda: transA ? s.m : s.k, b: bb, bOffset: 0, ldb: transB ? s.k : s.n, beta: beta, c: cb,
                                         cOffset: 0, ldc: s.n)
                        let c = try backend.download(cb)
                        let what = "\(s.m)×\(s.n)×\(s.k) \(s.split) transA \(transA) transB \(transB) beta \(beta), \(backend.threads) threads"
                        XCTAssertLessThan(normwiseError(c, reference), 1e-5, what)
                        if let first { XCTAssertEqual(c, first, "bitwise as on 1 thread: " + what) } else { first = c }
                    }
                }
            }
        }
    }

    /// A GEMM into the middle of a larger C (offsets and leading dimensions past the block)
    /// leaves everything outside the block alone, on every cut.
    func testGEMMCutsWriteOnlyTheirBlock() throws {
        let backend = CPUBackend(threads: 2, partition: Self.fine)
        let (m, n, k, ldc) = (6, 40, 100, 50)
        for transB in [false, true] {
            let a = randomValues(m * k, stream: 1), b = randomValues(k * n, stream: 2)
            let cb = try backend.makeBuffer([Float](repeating: 7, count: 3 + m * ldc))
            try backend.gemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: try backend.makeBuffer(a), aOffset: 0,
                             lda: k, b: try backend.makeBuffer(b), bOffset: 0, ldb: transB ? k : n, beta: 0, c: cb, cOffset: 3, ldc: ldc)
            let c = try backend.download(cb)
            let reference = referenceGEMM(transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: [])
            for i in 0..<(3 + m * ldc) {
                let r = (i - 3) / ldc, j = (i - 3) % ldc
                if i < 3 || j >= n {
                    XCTAssertEqual(c[i], 7, "element \(i) outside the block was written")
                } else {
                    XCTAssertEqual(Double(c[i]), reference[r * n + j], accuracy: 1e-4 * (1 + abs(reference[r * n + j])))
                }
            }
        }
    }

    // MARK: Sums and elementwise passes

    /// Runs `body` on a backend of each thread count (the fine cut) and checks that every run
    /// returns the same floats; returns them.
    func sameOnEveryThreadCount(_ what: String, _ body: (CPUBackend) throws -> [Float]) throws -> [Float] {
        var first: [Float]?
        for t in Self.threadCounts {
            let out = try body(CPUBackend(threads: t, partition: Self.fine))
            if let first {
                XCTAssertEqual(out.map(\.bitPattern), first.map(\.bitPattern), "\(what): \(t) threads differ from 1")
            } else { first = out }
        }
        return first ?? []
    }

    /// Row sums, sums of squares, row dots, the gradient-norm term, per-image sums and
    /// ActNorm's fused backward (with and without the ReLU mask, in place and not): bitwise the
    /// same on 1–4 threads, and within 1e-5 of Float64 (rows of 1000 values in 32-float blocks).
    func testSumsAreTheSameOnEveryThreadCountAndMatchFloat64() throws {
        let rows = 5, cols = 1000
        let x = randomValues(rows * cols, stream: 11), y = randomValues(rows * cols, stream: 12).map { $0 + 0.3 }
        let dy = randomValues(rows * cols, stream: 13)
        func rowRef(_ f: (Int) -> Double) -> [Double] { (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + f(r * cols + $1) } } }

        let sums = try sameOnEveryThreadCount("rowSums") { b in
            let out = try b.nanFilled(rows)
            try b.rowSums(try b.makeBuffer(x), xOffset: 0, rows: rows, cols: cols, squares: false, out: out)
            return try b.download(out)
        }
        XCTAssertLessThan(normwiseError(sums, rowRef { Double(x[$0]) }), 1e-5)
        let squares = try sameOnEveryThreadCount("rowSums of squares") { b in
            let out = try b.nanFilled(rows)
            try b.rowSums(try b.makeBuffer(x), xOffset: 0, rows: rows, cols: cols, squares: true, out: out)
            return try b.download(out)
        }
        XCTAssertLessThan(relativeError(squares, rowRef { Double(x[$0]) * Double(x[$0]) }), 1e-5)
        let dots = try sameOnEveryThreadCount("rowDots") { b in
            let out = try b.nanFilled(rows)
            try b.rowDots(try b.makeBuffer(x), try b.makeBuffer(y), rows: rows, cols: cols, out: out)
            return try b.download(out)
        }
        XCTAssertLessThan(normwiseError(dots, rowRef { Double(x[$0]) * Double(y[$0]) }), 1e-5)
        let norm = try sameOnEveryThreadCount("sumOfSquares") { b in
            let out = try b.nanFilled(3)
            try b.sumOfSquares(try b.makeBuffer(x), count: rows * cols, out: out, outIndex: 1)
            return [try b.download(out)[1]]
        }
        XCTAssertEqual(Double(norm[0]), x.reduce(0.0) { $0 + Double($1) * Double($1) }, accuracy: 1e-5 * Double(norm[0]))

        // Per-image sums of a CNHW block: 5 channels, 4 images of 250 positions.
        let images = 4, spatial = cols / images
        let perImage = try sameOnEveryThreadCount("sampleSums") { b in
            let out = try b.makeBuffer([Float](repeating: 1, count: images))
            try b.sampleSums(try b.makeBuffer(x), xOffset: 0, rows: rows, images: images, spatial: spatial, out: out, accumulate: true)
            return try b.download(out)
        }
        let perImageRef = (0..<images).map { n in
            1 + (0..<rows).reduce(0.0) { s, r in s + (0..<spatial).reduce(0.0) { $0 + Double(x[(r * images + n) * spatial + $1]) } }
        }
        XCTAssertLessThan(normwiseError(perImage, perImageRef), 1e-5)

        // ActNorm's backward: dx = mask·dy·exp(f·logs), Σ dx, f·Σ mask·dy·y + constant.
        let logs = randomValues(rows, stream: 14).map { 0.2 * $0 }
        for (relu, factor, constant, inPlace) in [(false, Float(1), Float(0), false), (true, 1, 0, true), (false, 3, 0.25, true)] {
            let yIn = relu ? y.map { max($0 - 0.3, 0) } : y
            let out = try sameOnEveryThreadCount("channelAffineBackward relu \(relu) factor \(factor)") { b in
                let dyb = try b.makeBuffer(dy), dx = inPlace ? dyb : try b.nanFilled(rows * cols)
                let gb = try b.nanFilled(rows), gl = try b.nanFilled(rows)
                try b.channelAffineBackward(dy: dyb, y: try b.makeBuffer(yIn), logs: try b.makeBuffer(logs), factor: factor, rows: rows,
                                            cols: cols, logsConstant: constant, relu: relu, dx: dx, gradBias: gb, gradLogs: gl)
                return try b.download(dx) + b.download(gb) + b.download(gl)
            }
            let mask = { (i: Int) -> Double in relu && !(yIn[i] > 0) ? 0 : Double(dy[i]) }
            let dxRef = (0..<(rows * cols)).map { mask($0) * Foundation.exp(Double(factor) * Double(logs[$0 / cols])) }
            let gbRef = (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + dxRef[r * cols + $1] } }
            let glRef = rowRef { mask($0) * Double(yIn[$0]) }.map { Double(factor) * $0 + Double(constant) }
            let what = "channelAffineBackward relu \(relu) factor \(factor)"
            XCTAssertLessThan(relativeError(Array(out[0..<(rows * cols)]), dxRef), 1e-5, what)
            XCTAssertLessThan(normwiseError(Array(out[(rows * cols)..<(rows * cols + rows)]), gbRef), 1e-5, what)
            XCTAssertLessThan(normwiseError(Array(out[(rows * cols + rows)...]), glRef), 1e-5, what)
        }
    }

    /// The elementwise passes and the convolution lowering, cut in chunks of 64 floats: the
    /// same bits on 1–4 threads as the values computed here in one loop.
    func testElementwisePassesAreTheSameOnEveryThreadCount() throws {
        let c = 3, images = 2, h = 6, w = 5, p = images * h * w
        let x = randomValues(2 * c * p, stream: 21), hNet = randomValues(2 * c * p, stream: 22)
        let bias = randomValues(2 * c, stream: 23), logs = randomValues(2 * c, stream: 24).map { 0.3 * $0 }
        let affine = try sameOnEveryThreadCount("channelAffine") { b in
            let y = try b.nanFilled(2 * c * p)
            try b.channelAffine(try b.makeBuffer(x), xOffset: 0, rows: 2 * c, cols: p, bias: try b.makeBuffer(bias),
                                logs: try b.makeBuffer(logs), factor: 1, reverse: false, relu: true, y: y, yOffset: 0)
            return try b.download(y)
        }
        for i in 0..<(2 * c * p) {
            XCTAssertEqual(affine[i], max((x[i] + bias[i / p]) * expf(logs[i / p]), 0), "channelAffine element \(i)")
        }
        _ = try sameOnEveryThreadCount("affineCoupling and its backward") { b in
            let xb = try b.makeBuffer(x), hb = try b.makeBuffer(hNet)
            let y = try b.nanFilled(2 * c * p), ls = try b.nanFilled(c * p)
            try b.affineCoupling(xb, h: hb, half: c, cols: p, reverse: false, y: y, logScale: ls)
            let dx = try b.zeros(2 * c * p), dh = try b.nanFilled(2 * c * p)
            try b.affineCouplingBackward(xb, h: hb, dy: y, half: c, cols: p, logdetGrad: 0.5, dx: dx, dh: dh)
            return try b.download(y) + b.download(ls) + b.download(dx) + b.download(dh)
        }
        _ = try sameOnEveryThreadCount("squeeze, im2col, col2im, 3×3 convolutions") { b in
            let xb = try b.makeBuffer(Array(x[0..<(4 * images * h * 4)]))
            let sq = try b.nanFilled(4 * images * h * 4)
            try b.squeeze(xb, y: sq, channels: 4, images: images, height: h, width: 4, inverse: false)
            let columns = try b.nanFilled(9 * c * p)
            try b.im2col3x3(try b.makeBuffer(x), xOffset: 0, channels: c, images: images, height: h, width: w, columns: columns)
            let back = try b.zeros(c * p)
            try b.col2im3x3(columns, channels: c, images: images, height: h, width: w, x: back, xOffset: 0)
            // A wide output, then a narrow one (Conv2dZeros' lowering: taps on the output side, flipped weights).
            func conv(_ outChannels: Int, stream: UInt64) throws -> [Float] {
                let weight = try b.makeBuffer(randomValues(outChannels * c * 9, stream: stream))
                let y = try b.nanFilled(outChannels * p), dw = try b.nanFilled(outChannels * c * 9), dx = try b.zeros(c * p)
                try b.conv3x3Forward(try b.makeBuffer(x), xOffset: 0, weight: weight, inChannels: c, outChannels: outChannels,
                                     images: images, height: h, width: w, y: y, yOffset: 0, columns: nil)
                try b.conv3x3BackwardWeights(try b.makeBuffer(x), xOffset: 0, dy: y, dyOffset: 0, inChannels: c,
                                             outChannels: outChannels, images: images, height: h, width: w, dw: dw, columns: nil)
                try b.conv3x3BackwardData(y, dyOffset: 0, weight: weight, inChannels: c, outChannels: outChannels, images: images,
                                          height: h, width: w, dx: dx, dxOffset: 0, columns: nil)
                return try b.download(y) + b.download(dw) + b.download(dx)
            }
            return try b.download(sq) + b.download(columns) + b.download(back) + conv(4, stream: 25) + conv(2, stream: 26)
        }
    }

    // MARK: Training

    /// Three training steps of the `tiny` model (store and reversible memory) on 1, 2 and 4
    /// threads with the fine cut, GEMMs split in every way: every parameter and every step's
    /// bpd and gradient norm bitwise the same. This is what lets a run resume with another
    /// `--threads` and continue exactly.
    func testTrainingIsBitwiseTheSameOn1_2And4Threads() throws {
        let set = try IDXReader.load(directory: TrainingTests.mnist, split: "train")
        let data = try ImageTransform.resizeArea(set.subset(Array(0..<64)), to: 8)
        for memory in [MemoryMode.store, .reversible] {
            var first: (params: [[UInt32]], reports: [[Double]])?
            for t in [1, 2, 4] {
                let backend = CPUBackend(threads: t, partition: Self.fine)
                backend.profile.enabled = true
                let model = try Glow(config: try GlowConfig.named("tiny"), backend: backend, seed: 4)
                var opt = OptimizerConfig(); opt.warmup = 2
                let trainer = try Trainer(model: model, optimizer: opt, data: data, batch: 8, seed: 4, memory: memory)
                try trainer.initialize()
                var reports: [[Double]] = []
                for _ in 0..<3 {
                    let r = try trainer.trainStep()
                    XCTAssertFalse(r.skipped)
                    reports.append([r.bpd, r.gradientNorm])
                }
                XCTAssertGreaterThan(backend.profile.splitGemms, 0, "no GEMM was cut: the test would not see a cut's effect")
                let params = try model.parameters.map { try backend.download($0.value).map(\.bitPattern) }
                if let first {
                    XCTAssertEqual(reports, first.reports, "\(memory): bpd and gradient norms on \(t) threads differ from 1 thread")
                    XCTAssertTrue(params == first.params, "\(memory): parameters after 3 steps on \(t) threads differ from 1 thread")
                } else {
                    first = (params, reports)
                }
            }
        }
    }

    // MARK: Thread counts

    /// cgroup v2's `cpu.max` (and v1's quota and period written the same way) in whole cores.
    func testCPUMaxParsing() {
        XCTAssertNil(CPUThreads.parseCPUMax("max 100000\n"))
        XCTAssertEqual(CPUThreads.parseCPUMax("200000 100000\n"), 2)
        XCTAssertEqual(CPUThreads.parseCPUMax("150000 100000"), 2)
        XCTAssertEqual(CPUThreads.parseCPUMax("50000 100000"), 1)
        XCTAssertEqual(CPUThreads.parseCPUMax("400000"), 4, "the period defaults to 100000")
        XCTAssertNil(CPUThreads.parseCPUMax("-1 100000"), "cgroup v1's 'no quota'")
        XCTAssertNil(CPUThreads.parseCPUMax("garbage"))
    }

    /// The defaults lie within the machine, an MPI rank's share within the lone process's,
    /// `requested` (what `--threads` sets) wins, and a bad count is an error naming it.
    func testThreadCountDefaults() throws {
        let machine = CPUThreads.machineProcessors, available = CPUThreads.available()
        XCTAssert((1...machine).contains(available), "available \(available) of \(machine) processors")
        if let affinity = CPUThreads.affinityCount() { XCTAssertGreaterThanOrEqual(affinity, available) }
        XCTAssert((1...available).contains(CPUThreads.share(localSize: 2)))
        XCTAssertEqual(CPUThreads.share(localSize: 1), available)
        XCTAssertEqual(CPUThreads.share(localSize: 4 * machine), 1)
        XCTAssertEqual(CPUBackend(threads: 3).threads, 3)
        let before = CPUThreads.requested
        defer { CPUThreads.requested = before }
        CPUThreads.requested = 5
        XCTAssertEqual(CPUBackend().threads, 5)
        XCTAssertEqual(CPUThreads.defaultCount(localSize: 2), 5)
        CPUThreads.requested = nil
        XCTAssertEqual(CPUBackend().threads, available)
        XCTAssertThrowsError(try CPUThreads.validate(0)) { e in
            XCTAssertEqual(e as? GlowError, .invalid(.threads, value: "0", expected: "expected a thread count from 1 to \(CPUThreads.maximum)"))
            XCTAssert(e.commandLineDescription.hasPrefix("--threads 0: "), e.commandLineDescription)
        }
        XCTAssertThrowsError(try CPUThreads.validate(CPUThreads.maximum + 1))
    }

    /// `--threads` reaches `devices` and `bench` (its JSON's `threads` and `--profile` shares),
    /// and a bad value is refused with its name.
    func testThreadsOption() throws {
        guard let binary = CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found next to the tests") }
        func run(_ args: [String]) throws -> (status: Int32, out: String) {
            let p = Process(), pipe = Pipe()
            p.executableURL = binary; p.arguments = args
            p.standardOutput = pipe; p.standardError = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let devices = try run(["devices", "--threads", "3"])
        XCTAssertEqual(devices.status, 0, devices.out)
        XCTAssert(devices.out.contains("3 threads (--threads)"), devices.out)
        let bad = try run(["bench", "--config", "tiny", "--device", "cpu", "--threads", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.out.contains("--threads 0"), bad.out)
        let bench = try run(["bench", "--config", "tiny", "--device", "cpu", "--steps", "1", "--threads", "2", "--profile", "--json"])
        XCTAssertEqual(bench.status, 0, bench.out)
        let line = bench.out.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], bench.out)
        XCTAssertEqual(json["threads"] as? Int, 2)
        let profile = try XCTUnwrap(json["profile"] as? [String: Double], "profile in \(line)")
        XCTAssertEqual(Set(profile.keys), Set(CPUProfile.Category.allCases.map(\.name) + ["other"]))
        XCTAssertEqual(profile.values.reduce(0, +), 1, accuracy: 0.01, "the shares add up to the step")
        XCTAssertGreaterThan(profile["gemm"] ?? 0, 0)
    }
}
