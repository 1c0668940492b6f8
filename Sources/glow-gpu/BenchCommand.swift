import ArgumentParser
import COpenBLAS
import Foundation
import GlowGPU
import GlowMPI

/// `glow-gpu bench`: training, encoding and sampling throughput against `cblas_sgemm`
/// measured in the same process; `--kernels` times the GEMM and 3×3 convolution alone.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench",
        abstract: "Measure training/encode/sample speed (images/s, GFLOP/s) beside cblas_sgemm in the same run.")

    @Option(help: "tiny, mnist or paper.") var config: String = "mnist"
    @Option(name: .customLong("K"), help: "Steps per level (overrides the configuration).") var k: Int?
    @Option(help: "Images per step (overrides the configuration).") var batch: Int?
    @Option(help: "\(BackendRegistry.deviceHelp)") var device: String = BackendRegistry.auto
    @Option(help: "fp32, or tf32: the coupling networks' convolutions on TF32 tensor cores (CUDA only).")
    var precision: GEMMPrecision = .fp32
    @Option(help: "store or reversible.") var memory: String = "store"
    @Option(help: "Timed training steps (after one warm-up step).") var steps: Int = 3
    @Flag(help: "Time only the GEMM and the 3×3 convolution at Glow-sized shapes.") var kernels = false
    @Option(name: .customLong("kernel-batch"), help: "Images in --kernels' shapes (N = images·14·14).") var kernelBatch: Int = 64
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "CPU backend: the share of a training step in GEMM, convolution lowering, elementwise passes, reductions and the update.")
    var profile = false
    @OptionGroup var threadsOption: ThreadsOption
    @Option(help: "Data-parallel ranks as threads of this process (as train --ranks): --batch is split among them.")
    var ranks: Int = 1

    func run() throws {
        // GlowError and DataError print as "Error: <message>". Under mpirun (or --ranks)
        // every rank trains its batch data-parallel and rank 0 prints the job's figures (see MPIJob).
        let comm = try Communicators.fromEnvironment()
        try InProcessRanks.check(ranks, under: comm)
        if ranks > 1 {
            threadsOption.apply()
            try InProcessRanks.run(ranks) { rank in try runRank(rank) }
        } else {
            try runRank(comm)
        }
    }

    /// One rank's bench (the only one without MPI or --ranks).
    func runRank(_ comm: any Communicator) throws {
        try MPIJob.run(comm, "bench") {
            threadsOption.apply()
            let backend = try InProcessRanks.openingDevice {
                try DeviceSelector.open(device, precision: precision, localRank: comm.localRank, localSize: comm.localSize)
            }
            // The timed GEMMs and convolution have the coupling networks' shapes: TF32 applies
            // to them under --precision tf32, as in training.
            guard kernelBatch >= 1 else { throw GlowError("--kernel-batch \(kernelBatch): must be at least 1") }
            if kernels { try backend.allowingReducedPrecision { try benchKernels(backend) } } else { try bench(backend, comm) }
        }
    }

    /// The best of three `cblas_sgemm` runs of `n`³, on `threads` OpenBLAS threads when given
    /// (the CPU backend's count: it runs OpenBLAS on one thread per part of its own split).
    static func sgemmGFLOPs(_ n: Int = 2048, threads: Int? = nil) -> Double {
        let before = openblas_get_num_threads()
        if let threads { openblas_set_num_threads(Int32(threads)) }
        defer { openblas_set_num_threads(before) }
        let a = [Float](repeating: 0.5, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        var best = 0.0
        for _ in 0..<3 {
            let t = Date()
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n),
                        0, &c, Int32(n))
            best = max(best, 2 * pow(Double(n), 3) / Date().timeIntervalSince(t) / 1e9)
        }
        return best
    }

    /// Resident memory now, from /proc/self/statm.
    static func currentRSSMB() -> Double {
        guard let t = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return .nan }
        let f = t.split(separator: " ")
        return f.count > 1 ? (Double(f[1]) ?? .nan) * Double(sysconf(Int32(_SC_PAGESIZE))) / 1048576 : .nan
    }

    static func peakRSSMB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    func bench<B: Backend>(_ backend: B, _ comm: any Communicator) throws {
        var cfg = try GlowConfig.named(config)
        if let k { cfg.K = k }
        if let batch { cfg.batch = batch }
        guard let mode = MemoryMode(rawValue: memory) else { throw GlowError("--memory \(memory): expected store or reversible") }
        guard steps >= 1 else { throw GlowError("--steps \(steps): must be at least 1") }
        if comm is ThreadCommunicator {
            guard cfg.batch % comm.size == 0 else {
                throw GlowError("--batch \(cfg.batch) does not split evenly over --ranks \(comm.size): give a multiple of \(comm.size)")
            }
            cfg.batch /= comm.size
        }
        try cfg.validate()
        // The synthetic batch is made on the host before the trainer checks its own memory.
        try MemoryLimit.check(elements: [cfg.batch, cfg.dimension, 16], bytesEach: 1, what: "--batch \(cfg.batch)")
        guard !steps.multipliedReportingOverflow(by: cfg.batch).overflow else {
            throw GlowError("--steps \(steps) × --batch \(cfg.batch) images is past the largest integer")
        }
        let cpu = backend as? CPUBackend
        let sgemm = BenchCommand.sgemmGFLOPs(threads: cpu?.threads)
        let model = try Glow(config: cfg, backend: backend, seed: 1)
        let n = cfg.batch, ranks = comm.size
        let pixels = (0..<(n * ranks * cfg.dimension)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 24) }
        let set = try ImageSet(count: n * ranks, channels: cfg.channels, height: cfg.height, width: cfg.width, pixels: pixels)
        // train's default warm-up: without it `paper` on these synthetic images diverges at
        // the second step, and skipped steps (no update, no refresh) would be timed instead.
        var optimizer = OptimizerConfig()
        optimizer.warmup = 200
        let trainer = try Trainer(model: model, optimizer: optimizer, data: set, batch: n, seed: 1, memory: mode,
                                  communicator: comm)
        try trainer.initialize()
        for p in model.parameters { _ = try p.gradient() }
        let stateMB = BenchCommand.currentRSSMB()   // weights, gradients, optimizer moments, data
        if !json {
            print("bench \(config) (K=\(cfg.K), batch \(n)\(ranks > 1 ? " per rank × \(ranks) \(comm is ThreadCommunicator ? "in-process" : "MPI") ranks" : ""), "
                + "memory \(mode.rawValue)) on \(backend.name)")
        }
        try trainer.trainStep()   // warm-up: kernels compiled, buffer pool filled
        if trainer.recordsNextStep { try trainer.trainStep() }   // CUDA Graphs: the step recorded
        try backend.synchronize()
        try comm.barrier()
        // Launch overhead per training step, counted alike on every backend (DeviceCounters).
        let counters = backend.counters
        counters.reset()
        cpu?.profile.reset()
        cpu?.profile.enabled = profile
        let t0 = Date()
        var exchangeSeconds = 0.0, skipped = 0
        for _ in 0..<steps {
            let r = try trainer.trainStep()
            exchangeSeconds += r.allReduceSeconds
            if r.skipped { skipped += 1 }
        }
        // Counted before the bench's own synchronize, which is not part of a step.
        func perStep(_ v: Int) -> Double { Double(v) / Double(steps) }
        let launches = perStep(counters.launches), syncs = perStep(counters.hostWaits)
        let libraryCalls = perStep(counters.libraryCalls), uploads = perStep(counters.uploads)
        let downloads = perStep(counters.downloads), graphLaunches = perStep(counters.graphLaunches)
        let byKernel = counters.byKernel   // before encode and sample add theirs
        try backend.synchronize()
        let trainSeconds = Date().timeIntervalSince(t0)
        cpu?.profile.enabled = false
        // Shares of the timed steps; `other` is the rest (the model's host code, allocation, waits).
        let shares: [(String, Double)]? = cpu.map { cpu in
            let parts = CPUProfile.Category.allCases.map { ($0.name, cpu.profile.seconds($0) / trainSeconds) }
            return parts + [("other", max(0, 1 - parts.reduce(0) { $0 + $1.1 }))]
        }
        let gemmCalls = cpu?.profile.calls(.gemm) ?? 0, splitGemms = cpu?.profile.splitGemms ?? 0
        let gemmParts = cpu?.profile.gemmParts ?? 0
        let gemmShapes = (cpu?.profile.gemmShapes ?? [:]).sorted { $0.value.seconds > $1.value.seconds }
        // Per-rank figures, gathered by summing vectors that are zero but in each rank's slot.
        var perRank = [Double](repeating: 0, count: 3 * ranks)
        perRank[comm.rank] = Double(steps * n) / trainSeconds
        perRank[ranks + comm.rank] = exchangeSeconds / Double(steps)
        perRank[2 * ranks + comm.rank] = trainSeconds / Double(steps)
        try comm.allReduceSum(&perRank)
        let rankIPS = Array(perRank[0..<ranks]), rankExchange = Array(perRank[ranks..<2 * ranks])
        let stepSeconds = perRank[(2 * ranks)...].max() ?? trainSeconds
        // The job's rate: every rank's batch per step of the slowest rank.
        let trainIPS = Double(n * ranks) / stepSeconds
        let exchange = rankExchange.reduce(0, +) / Double(ranks)
        let params = model.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
        // The all-reduce of all gradients alone (after a barrier, so no rank waits for a
        // slower one inside it): best of 5.
        var alone = 0.0
        if ranks > 1 {
            var buffer = [Float](repeating: 1, count: params)
            alone = .infinity
            for _ in 0..<5 {
                try comm.barrier()
                let t = Date()
                try buffer.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
                alone = min(alone, Date().timeIntervalSince(t))
            }
        }
        let x = try trainer.input(Array(0..<n), noiseStream: 1)
        _ = try model.encode(x)
        var t = Date()
        for _ in 0..<steps { _ = try model.encode(x) }
        let encodeIPS = Double(steps * n) / Date().timeIntervalSince(t)
        _ = try model.sample(count: n, temperature: 0.7, seed: 1).nchw()
        t = Date()
        for s in 0..<steps { _ = try model.sample(count: n, temperature: 0.7, seed: UInt64(s)).nchw() }
        let sampleIPS = Double(steps * n) / Date().timeIntervalSince(t)
        let gflopPerImage = FlopCount.trainingPerImage(cfg) / 1e9
        let gflops = gflopPerImage * trainIPS
        let rss = BenchCommand.peakRSSMB()
        if json {
            let report = BenchReport(
                config: config, device: backend.name, memory: mode.rawValue, K: cfg.K, threads: cpu?.threads, batch: n,
                imagesPerSecond: trainIPS, gflopPerImage: gflopPerImage, gflops: gflops, sgemmGflops: sgemm,
                kernelLaunches: launches, hostWaits: syncs, libraryCalls: libraryCalls, uploads: uploads, downloads: downloads,
                graphLaunches: graphLaunches, graphOperations: trainer.recordedStep?.operations ?? 0, skippedSteps: skipped,
                launchesByKernel: byKernel.mapValues { Double($0) / Double(steps) }, peakRSSMB: rss, stateRSSMB: stateMB,
                encodeImagesPerSecond: encodeIPS, sampleImagesPerSecond: sampleIPS, parameters: params, ranks: ranks,
                perRankImagesPerSecond: rankIPS, stepSeconds: stepSeconds, allreduceSecondsPerStep: exchange,
                allreduceAloneSeconds: alone,
                allreduceModelBytesPerRankPerStep: 2 * Double(ranks - 1) / Double(ranks) * 4 * Double(params),
                profile: profile ? shares : nil)
            print(try report.json())
        } else {
            print(String(format: "  training   %.2f images/s × %.3f GFLOP/image = %.1f GFLOP/s", trainIPS, gflopPerImage, gflops))
            if ranks > 1 {
                print("  ranks      \(ranks); images/s per rank " + rankIPS.map { String(format: "%.2f", $0) }.joined(separator: ", "))
                print(String(format: "  all-reduce %.4f s of a %.3f s step (%.1f%%; copies and waiting included), %.4f s alone; "
                    + "%d parameters, %.1f MB per rank", exchange, stepSeconds, 100 * exchange / stepSeconds, alone, params,
                    2 * Double(ranks - 1) / Double(ranks) * 4 * Double(params) / 1e6))
            }
            if skipped > 0 { print("  warning: \(skipped) of \(steps) timed steps were skipped (non-finite loss or gradient)") }
            print(String(format: "  sgemm      %.1f GFLOP/s (2048³, cblas_sgemm, same process); ratio %.2f", sgemm, gflops / sgemm))
            print("  per step   \(count(launches)) kernel launches, \(count(libraryCalls)) library GEMMs, "
                + "\(count(syncs)) host waits, \(count(uploads)) uploads, \(count(downloads)) downloads")
            if let g = trainer.recordedStep {
                print("             one recorded step (a CUDA graph or an OpenCL command buffer) of \(g.operations) kernels "
                    + "and GEMMs, \(count(graphLaunches)) launch per step")
            } else if let note = trainer.recordingNote {
                print("             steps are not replayed as a graph: \(note)")
            }
            if !byKernel.isEmpty {
                let top = byKernel.sorted { $0.value > $1.value }.prefix(8)
                print("             most launched: " + top.map { "\($0.key) \($0.value / steps)" }.joined(separator: ", "))
            }
            if profile {
                if let shares {
                    print("  profile    " + shares.map { String(format: "%@ %.1f%%", $0.0, 100 * $0.1) }.joined(separator: ", ")
                        + String(format: " of a %.3f s step; %d of %d GEMMs cut, %.1f parts each", trainSeconds / Double(steps),
                                 splitGemms, gemmCalls, splitGemms > 0 ? Double(gemmParts) / Double(splitGemms) : 0))
                    let gemmFlops = { (shape: String) -> Double in   // "NT m×n×k …"
                        let dims = shape.split(separator: " ")[1].split(separator: "×").compactMap { Double($0) }
                        return dims.count == 3 ? 2 * dims[0] * dims[1] * dims[2] : 0
                    }
                    for (shape, v) in gemmShapes.prefix(8) {
                        print(String(format: "             %5.1f%%  %4d calls  %5.1f GFLOP/s  %@", 100 * v.seconds / trainSeconds, v.calls,
                                     gemmFlops(shape) * Double(v.calls) / v.seconds / 1e9, shape))
                    }
                } else {
                    print("  profile    (the CPU backend only; \(backend.name) is not)")
                }
            }
            print(String(format: "  encode     %.1f images/s;  sample %.1f images/s (T=0.7)", encodeIPS, sampleIPS))
            print(String(format: "  peak RSS   %.0f MB (%.0f MB weights, gradients, moments and data before the first step; "
                + "%.0f MB above that: activations and scratch)", rss, stateMB, rss - stateMB))
        }
    }

    /// A per-step count: exact when whole, one decimal otherwise.
    func count(_ v: Double) -> String { v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.1f", v) }

    /// GEMM 512 × 12544 × 512 (a batch of 64 at 14×14 through a 512-wide 1×1 convolution)
    /// and a 3×3 convolution 512 → 512 at 64×14×14, on the backend and with cblas_sgemm
    /// (`--kernel-batch` replaces the 64).
    func benchKernels<B: Backend>(_ backend: B) throws {
        let images = kernelBatch
        let (m, n, k) = (512, images * 14 * 14, 512)
        let a = try backend.makeBuffer(Philox.array(count: m * k, distribution: .normal, seed: 1, stream: 1))
        let b = try backend.makeBuffer(Philox.array(count: k * n, distribution: .normal, seed: 1, stream: 2))
        let c = try backend.allocate(m * n)
        func time(_ reps: Int, _ body: () throws -> Void) throws -> Double {
            try body(); try backend.synchronize()
            var best = Double.infinity
            for _ in 0..<reps {
                let t = Date(); try body(); try backend.synchronize()
                best = min(best, Date().timeIntervalSince(t))
            }
            return best
        }
        let gemmT = try time(3) {
            try backend.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, aOffset: 0, lda: k, b: b,
                             bOffset: 0, ldb: n, beta: 0, c: c, cOffset: 0, ldc: n)
        }
        let gemmNT = try time(3) {   // weight gradient shape: dY · Xᵀ
            try backend.gemm(transA: false, transB: true, m: m, n: k, k: n, alpha: 1, a: c, aOffset: 0, lda: n, b: b,
                             bOffset: 0, ldb: n, beta: 0, c: a, cOffset: 0, ldc: k)
        }
        let conv = try Conv3x3(backend, in: 512, out: 512, name: "w", values: Philox.array(count: 512 * 512 * 9,
                               distribution: .normal, seed: 1, stream: 3))
        let cols = try backend.scratch(conv.scratchCount(images: images, height: 14, width: 14))
        let convT = try time(2) {
            try conv.forward(b, xOffset: 0, images: images, height: 14, width: 14, columns: cols, into: c)
        }
        let ha = [Float](repeating: 0.5, count: m * k), hb = [Float](repeating: 0.25, count: k * n)
        var hc = [Float](repeating: 0, count: m * n)
        // OpenBLAS on the CPU backend's thread count (the backend runs it on one thread per part).
        let cpuThreads = (backend as? CPUBackend)?.threads
        let blasThreads = openblas_get_num_threads()
        if let cpuThreads { openblas_set_num_threads(Int32(cpuThreads)) }
        defer { openblas_set_num_threads(blasThreads) }
        var blas = Double.infinity
        for _ in 0..<3 {
            let t = Date()
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, ha, Int32(k), hb,
                        Int32(n), 0, &hc, Int32(n))
            blas = min(blas, Date().timeIntervalSince(t))
        }
        let f = 2.0 * Double(m * n * k)
        let sg = BenchCommand.sgemmGFLOPs(threads: cpuThreads)
        print("kernels on \(backend.name)")
        print(String(format: "  gemm NN %d×%d×%d     %.1f GFLOP/s", m, n, k, f / gemmT / 1e9))
        print(String(format: "  gemm NT %d×%d×%d     %.1f GFLOP/s", m, k, n, f / gemmNT / 1e9))
        print(String(format: "  conv3×3 512→512 %d×14×14  %.1f GFLOP/s (%@)", images, 9 * f / convT / 1e9,
                     cols == nil ? "implicit GEMM" : "im2col + GEMM"))
        print(String(format: "  cblas_sgemm same GEMM  %.1f GFLOP/s;  2048³ %.1f GFLOP/s", f / blas / 1e9, sg))
    }
}
