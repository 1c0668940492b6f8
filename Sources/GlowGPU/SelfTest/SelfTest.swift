import Foundation
import GlowCore
import GlowCPU

/// `glow-gpu selftest`: every backend operation on a device against a reference backend
/// (the CPU backend) with the same deterministic random inputs, awkward shapes and
/// NaN-poisoned outputs, then a small model's forward, reverse and gradient passes.
/// What a user runs first on a new GPU or driver.
///
/// To cover a new `Backend` operation, give it a `BackendOperation` case, write a type
/// conforming to `OperationCheck` (one per operation or family, beside the others in this
/// folder) and add its instances to `operationChecks`;
/// `SelfTestTests.testEveryBackendOperationHasARow` fails until then. An `ElementOp` needs no
/// case of its own: its rows are `ElementOpCheck`'s (ElementOpChecks.swift). The test suite runs
/// these rows (and `extendedChecks`) on every backend it has, against the CPU backend and
/// against each check's Float64 reference (`BackendParityTests`).
public enum SelfTest {
    /// The operation rows, in the order they run.
    public static var operationChecks: [any OperationCheck] {
        var checks: [any OperationCheck] = MemoryCheck.Kind.allCases.map { MemoryCheck($0, rows: 7, cols: 13) }
        // GEMM: tiny, odd, and several-tile shapes with ragged edges, every transpose, β 0 and not;
        // then Glow's three training shapes (forward NN, data gradient TN, weight gradient NT with long K).
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (67, 131, 45), (130, 97, 260)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for beta: Float in [0, 0.5] { checks.append(GemmCheck(m: m, n: n, k: k, transA: ta, transB: tb, beta: beta)) }
            }
        }
        checks += [GemmCheck(m: 48, n: 1030, k: 300, transA: false, transB: false, beta: 0),
                   GemmCheck(m: 300, n: 1030, k: 48, transA: true, transB: false, beta: 0),
                   GemmCheck(m: 48, n: 300, k: 1030, transA: false, transB: true, beta: 0.5)]
        for (c, n, h, w) in [(1, 1, 1, 1), (3, 2, 7, 7), (17, 3, 9, 6)] {
            checks.append(Im2colCheck(channels: c, images: n, height: h, width: w))
            checks.append(Col2imCheck(channels: c, images: n, height: h, width: w))
        }
        // 3×3 convolutions: wider and narrower outputs (Conv2dZeros), a single pixel, and one
        // crossing several GPU tiles with ragged edges; once without scratch.
        for (ci, co, n, h, w) in [(1, 1, 1, 1, 1), (3, 5, 2, 7, 7), (17, 12, 3, 9, 6), (40, 70, 2, 14, 13)] {
            checks += Conv3x3Check.Kind.allCases.map { Conv3x3Check($0, inChannels: ci, outChannels: co, images: n, height: h, width: w) }
        }
        checks += Conv3x3Check.Kind.allCases.map { Conv3x3Check($0, inChannels: 6, outChannels: 9, images: 2, height: 5, width: 5, scratch: false) }
        for (factor, reverse, relu) in [(Float(1), false, false), (1, false, true), (3, true, false), (1, true, false)] {
            checks.append(ChannelAffineCheck(rows: 5, cols: 301, factor: factor, reverse: reverse, relu: relu))
        }
        checks += BinaryOp.allCases.map { BinaryCheck($0, count: 1001) }
        checks += ElementOpCheck.rows
        for (rows, images, spatial) in [(6, 3, 49), (3, 7, 433)] {
            checks += ReductionCheck.Kind.allCases.map { ReductionCheck($0, rows: rows, images: images, spatial: spatial) }
        }
        checks += [SqueezeCheck(channels: 3, images: 2, height: 6, width: 10, inverse: false),
                   SqueezeCheck(channels: 3, images: 2, height: 6, width: 10, inverse: true)]
        for (half, cols) in [(3, 29), (6, 391)] {
            checks += [AffineCouplingCheck(half: half, cols: cols, reverse: false),
                       AffineCouplingCheck(half: half, cols: cols, reverse: true),
                       AffineCouplingBackwardCheck(half: half, cols: cols)]
        }
        for kind in GaussianCheck.Kind.allCases {
            checks += [GaussianCheck(kind, interleaved: true, rows: 4, cols: 29), GaussianCheck(kind, interleaved: false, rows: 5, cols: 97)]
        }
        checks += [RandomCheck(.normal, count: 1001), RandomCheck(.uniform(low: -0.5, high: 0.25), count: 1001)]
        checks += TrainingStepCheck.Kind.allCases.flatMap { kind in [1, 5, 13].map { TrainingStepCheck(kind, size: $0) } }
        return checks
    }

    /// More shapes of the same operations, which the test suite runs besides
    /// `operationChecks` (the command does not): GEMMs a multiple of no tile size and with
    /// long reductions (the GPU variant's split-K path), 3×3 convolutions wider and narrower
    /// than their input with and without scratch, sums over rows of thousands of elements
    /// (cut into chunks on the GPU variant), element counts that are multiples of the vector
    /// width, and smaller blocks of the other operations.
    public static var extendedChecks: [any OperationCheck] {
        var checks: [any OperationCheck] = MemoryCheck.Kind.allCases.map { MemoryCheck($0, rows: 4, cols: 5) }
        for (m, n, k) in [(13, 17, 33), (64, 49, 36), (9, 100, 18), (33, 16, 64), (5, 31, 200), (7, 9, 1000), (70, 20, 600)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for beta: Float in [0, 0.5] { checks.append(GemmCheck(m: m, n: n, k: k, transA: ta, transB: tb, beta: beta)) }
            }
        }
        for (c, n, h, w) in [(5, 1, 4, 6), (2, 3, 8, 5)] {
            checks.append(Im2colCheck(channels: c, images: n, height: h, width: w))
            checks.append(Col2imCheck(channels: c, images: n, height: h, width: w))
        }
        for (ci, co, n, h, w) in [(1, 1, 1, 1, 1), (5, 13, 3, 7, 9), (13, 5, 3, 7, 9), (5, 13, 3, 16, 16), (6, 6, 2, 5, 3)] {
            for scratch in ci == 1 ? [false] : [true, false] {   // the single pixel with scratch is a command row
                checks += Conv3x3Check.Kind.allCases.map {
                    Conv3x3Check($0, inChannels: ci, outChannels: co, images: n, height: h, width: w, scratch: scratch)
                }
            }
        }
        for (factor, reverse) in [(Float(1), false), (1, true), (3, false), (3, true)] {
            checks.append(ChannelAffineCheck(rows: 5, cols: 37, factor: factor, reverse: reverse, relu: false))
        }
        checks += BinaryOp.allCases.map { BinaryCheck($0, count: 1000) }
        checks += ReductionCheck.Kind.allCases.map { ReductionCheck($0, rows: 3, images: 2, spatial: 5003) }
        checks += [SqueezeCheck(channels: 3, images: 2, height: 6, width: 4, inverse: false),
                   SqueezeCheck(channels: 3, images: 2, height: 6, width: 4, inverse: true)]
        checks.append(AffineCouplingBackwardCheck(half: 3, cols: 23))
        checks += [GaussianCheck(.logDensity, interleaved: false, rows: 4, cols: 29),
                   GaussianCheck(.sample, interleaved: false, rows: 4, cols: 29),
                   GaussianCheck(.backward, interleaved: true, rows: 2, cols: 13)]
        return checks
    }

    /// The rows for a backend computing at `precision`: `operationChecks`, plus
    /// `reducedPrecisionChecks` for TF32.
    public static func operationChecks(precision: GEMMPrecision) -> [any OperationCheck] {
        precision == .tf32 ? operationChecks + reducedPrecisionChecks : operationChecks
    }

    /// Runs `checks` (default: `operationChecks(precision:)`) on `subject` and `reference`
    /// and compares; then, with `model`, the small-model rows (with TF32's tolerances when
    /// `precision` is TF32). A CUDA subject at TF32 also gets a `tf32.routing` row: the TF32
    /// rows must have reached `cublasGemmEx` with TF32. `progress` sees each row as it
    /// completes. Never throws: an operation that throws becomes a failed row carrying the error.
    public static func run<R: Backend, S: Backend>(subject: S, reference: R, checks: [any OperationCheck]? = nil,
                                                   model: Bool = true, precision: GEMMPrecision = .fp32,
                                                   progress: ((SelfTestRow) -> Void)? = nil) -> SelfTestReport {
        let start = Date()
        var rows: [SelfTestRow] = []
        let cuda = subject as? CUDABackend
        let tf32Before = cuda?.tf32GEMMs ?? 0
        var reducedRows = 0
        for check in checks ?? operationChecks(precision: precision) {
            if check is ReducedPrecisionCheck { reducedRows += 1 }
            let row: SelfTestRow
            do {
                let want: [[Float]]
                do { want = try check.outputs(on: reference) } catch {
                    throw GlowError("the reference backend failed: \(error)")
                }
                let got = try check.outputs(on: subject)
                var worst = got.count == want.count ? 0.0 : .infinity
                if case .componentwise = check.measure {
                    let scales = try check.scales(on: reference)
                    if scales.count != want.count { worst = .infinity }
                    for (i, (g, w)) in zip(got, want).enumerated() where i < scales.count {
                        worst = max(worst, check.measure.error(g, w, scale: scales[i]))
                    }
                } else {
                    for (g, w) in zip(got, want) { worst = max(worst, check.measure.error(g, w)) }
                }
                row = SelfTestRow(op: check.op, shape: check.shape, maxRelativeError: worst, tolerance: check.tolerance)
            } catch {
                row = SelfTestRow(op: check.op, shape: check.shape, maxRelativeError: .infinity, tolerance: check.tolerance,
                                  failure: "\(error)")
            }
            rows.append(row)
            progress?(row)
        }
        if let cuda, precision == .tf32, reducedRows > 0 {
            let count = cuda.tf32GEMMs - tf32Before
            let row = SelfTestRow(op: "tf32.routing", shape: "cublasGemmEx(TF32) calls in \(reducedRows) TF32 rows: \(count)",
                                  maxRelativeError: count >= reducedRows ? 0 : .infinity, tolerance: 0,
                                  failure: count >= reducedRows ? nil : "the TF32 rows ran \(count) TF32 GEMMs, fewer than one each: "
                                    + "the backend computes them in FP32 (open the backend with GEMMPrecision.tf32)")
            rows.append(row)
            progress?(row)
        }
        if model {
            for row in ModelCheck.rows(reference: reference, subject: subject, precision: precision) {
                rows.append(row)
                progress?(row)
            }
        }
        return SelfTestReport(device: subject.name, reference: reference.name, rows: rows,
                              seconds: Date().timeIntervalSince(start))
    }

    /// Runs the self-test of `subject` against the CPU backend.
    public static func run<S: Backend>(subject: S, progress: ((SelfTestRow) -> Void)? = nil) -> SelfTestReport {
        run(subject: subject, reference: CPUBackend(), progress: progress)
    }
}
