import ArgumentParser
import Foundation
import GlowGPU
import GlowMPI

/// `glow-gpu train`: the main job.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train",
        abstract: "Train Glow on an image set, with a progress bar, checkpoints, metrics, sample grids and a bpd plot.",
        discussion: """
            Defaults: the mnist configuration with its recipe, Adam at learning rate 1e-3 after 200 steps of \
            linear warm-up, and --clip auto (clip at 2× the median norm of the last 100 steps, skip above 20×). In \
            300-step runs of mnist (docs/training.md, seed 1) it reached test bpd 2.78, against 3.42 for the \
            official code's Adamax at 1e-3 with the same guard and 3.94 without it; its largest setback in train \
            bpd was 0.55 (Adamax: 0.58 guarded, 1.29 not). With it, --skip-run 1 (a second outlying step in a row \
            is clipped, not skipped, so the guard never freezes bad weights: one run stalled for 48 skips without \
            it) and --recover (roll back to the last good weights when the loss stays 0.5 above its best; replayed \
            on the recorded runs, it fires on each one that diverged and on none of the default's), and --ema 0.995 \
            (the evaluations and samples use an average of the weights whose decay grows as min(0.995, \
            (1 + t)/(10 + t)); at step 300 of two seeds it was 0.11 and 0.24 bpd better than the weights). The \
            tiny and paper configurations keep Adamax at 1e-3 with --clip auto --skip-run 1, without EMA, until \
            runs say otherwise.
            """)

    @Option(help: "tiny, mnist or paper (docs/glow-spec.md's reference configurations; default mnist, or the checkpoint's with --resume).")
    var config: String?
    @Option(name: .customLong("K"), help: "Steps of flow per level (overrides the configuration).") var k: Int?
    @Option(name: .customLong("L"), help: "Levels (overrides the configuration).") var l: Int?
    @Option(help: "Coupling network width.") var hidden: Int?
    @Option(help: "Images per step.") var batch: Int?
    @Option(help: "affine or additive.") var coupling: String?
    @Option(help: "invconv, reverse or shuffle.") var permutation: String?
    @Flag(inversion: .prefixedNo, help: "LU-decomposed 1×1 convolutions.") var lu: Bool?
    @Flag(name: .customLong("learn-top"), inversion: .prefixedNo, help: "Learned top prior.") var learnTop: Bool?
    @Flag(help: "Class-conditional model (prior conditioned on the data set's labels, plus a classifier head).") var conditional = false
    @Option(name: .customLong("n-bits"), help: "Bits per pixel channel (1…8).") var nBits: Int?

    @Option(help: "mnist, fashion-mnist, cifar10 or folder.") var dataset: String = "mnist"
    @Option(help: "The dataset's folder (default: the embedded data/mnist; /usr/share/datasets/fashion-mnist).") var data: String?
    @Option(name: .customLong("image-size"), help: "Resample images to N×N.") var imageSize: Int?
    @Option(help: "Zero pixels added on each side (MNIST --pad 2 gives 32×32).") var pad: Int?

    @Option(help: "adam or adamax (default: the configuration's recipe, or the training state's with --resume).") var optimizer: String?
    @Option(help: "Peak learning rate (default: the recipe's, with its optimizer; else 1e-3; with --resume, the training state's).") var lr: Double?
    @Option(help: "Steps of linear learning-rate warm-up (default: 200, or the training state's with --resume).") var warmup: Int?
    @Option(help: "Decay of Adam's second moment (Adamax's infinity norm) (default: 0.999, or the training state's with --resume).") var beta2: Double?
    @Option(help: "Gradient clipping: auto (clip at 2× the median global norm of the last 100 steps, skip a step above 20×), auto:K (K× and 10·K×), none, or a fixed norm such as 50 (default: the recipe's, with its optimizer; else auto; with --resume, the training state's).")
    var clip: String?
    @Option(name: .customLong("skip-run"), help: "Under --clip auto: after N steps skipped in a row for their norm, clip the next instead of skipping it, so weights that give every batch a huge gradient are corrected rather than frozen; none: no limit (default: 1, or the training state's with --resume).")
    var skipRun: String?
    @Option(help: "EMA decay of the weights for evaluation and sampling, reached as min(D, (1 + t)/(10 + t)) at update t so that the average does not remember the first steps; none: no EMA (default: 0.995 for mnist, none for the others; with --resume, the training state's; given to --resume of a run without EMA, the average starts from its weights).") var ema: String?
    @Option(name: .customLong("update-clip"), help: "Cap each weight's Adam step |m̂/(√v̂ + ε)| at this before the learning rate, taming the jump when a gradient far above a weight's history arrives (up to 3.2 without a cap); none: no cap (default: none, or the training state's with --resume).") var updateClip: String?
    @Flag(inversion: .prefixedNo, help: "Roll back to the last good weights when the 20-step mean train bpd stays 0.5 above its best for 20 steps, and halve the learning rate (copies taken every 10 steps; at most 4 times) (default: on for mnist, off for the others; with --resume, as the training state was).")
    var recover: Bool?

    @Option(help: "Total steps to reach (also when resuming).") var steps: Int?
    @Option(help: "Total epochs to reach (instead of --steps).") var epochs: Int?
    @Option(help: "A time budget in minutes: training stops early enough for the final evaluation, samples and save to fit in it.") var minutes: Double?
    @Option(help: "\(BackendRegistry.deviceHelp)") var device: String = BackendRegistry.auto
    @Option(help: "fp32, or tf32: the coupling networks' convolutions on TF32 tensor cores (CUDA only).")
    var precision: GEMMPrecision = .fp32
    @Option(help: "store (keep activations) or reversible (recompute them through the inverse).") var memory: String = "store"
    @OptionGroup var threadsOption: ThreadsOption
    @Option(help: "Data-parallel ranks as threads of this process, each training its share of --batch on its share of the cores and exchanging gradients once per step: mpirun -np N's job in one process (CPU: faster than the same cores on one rank). Like MPI ranks, and unlike --threads, it changes how the batch's gradient is summed.")
    var ranks: Int = 1
    @Option(help: "Seed of initialisation, data order and noise (default 1, or the training state's with --resume).") var seed: UInt64?
    @Option(help: "Output folder.") var out: String = "runs/glow"
    @Flag(help: "Continue from the checkpoint and training state in --out (model options default to the checkpoint's; a conflicting one is an error).") var resume = false
    @Flag(help: "Start a new run in an --out that holds one, replacing its files (only once the new run has started).") var overwrite = false
    @Flag(name: .customLong("no-test"), help: "Train without the test split (no test bpd).") var noTest = false
    @Option(name: .customLong("eval-every"), help: "Evaluate test bpd every N steps (0: only at the end).") var evalEvery: Int = 500
    @Option(name: .customLong("eval-images"), help: "Test images per periodic evaluation (the final one uses all).") var evalImages: Int = 1000
    @Option(name: .customLong("sample-every"), help: "Write a sample grid every N steps (0: only at the end).") var sampleEvery: Int = 500
    @Option(name: .customLong("save-every"), help: "Save checkpoint and state every N steps.") var saveEvery: Int = 500

    func run() throws {
        // GlowError and DataError print as "Error: <message>" (a runtime failure, not a usage error).
        // Under mpirun, or with --ranks: one rank of a data-parallel job (see MPIJob).
        let comm = try Communicators.fromEnvironment()
        try InProcessRanks.check(ranks, under: comm)
        if ranks > 1 {
            threadsOption.apply()
            try InProcessRanks.run(ranks) { rank in try MPIJob.run(rank, "train") { try execute(rank) } }
        } else {
            try MPIJob.run(comm, "train") { try execute(comm) }
        }
    }

    func modelConfig() throws -> GlowConfig {
        var c = try GlowConfig.named(config ?? "mnist")
        if let k { c.K = k }
        if let l { c.L = l }
        if let hidden { c.hidden = hidden }
        if let batch { c.batch = batch }
        if let coupling {
            guard let v = GlowConfig.Coupling(rawValue: coupling) else { throw GlowError("--coupling \(coupling): expected affine or additive") }
            c.coupling = v
        }
        if let permutation {
            guard let v = GlowConfig.Permutation(rawValue: permutation) else {
                throw GlowError("--permutation \(permutation): expected invconv, reverse or shuffle")
            }
            c.permutation = v
        }
        if let lu { c.lu = lu }
        if let learnTop { c.learnTop = learnTop }
        if let nBits { c.nBits = nBits }
        return c
    }

    /// The model options given on the command line that differ from the checkpoint's
    /// configuration `saved` (with --resume every model option defaults to the checkpoint's).
    func resumeConflicts(_ saved: GlowConfig) throws -> [String] {
        var out: [String] = []
        let named = try config.map(GlowConfig.named)
        func check<T: Equatable>(_ option: String, _ given: T?, _ fromConfig: T?, _ have: T, _ show: (T) -> String = { "\($0)" }) {
            if let given, given != have { out.append("\(option) \(show(given)) (the checkpoint has \(show(have)))") }
            else if given == nil, let fromConfig, fromConfig != have, let config {
                out.append("--config \(config) (\(option.dropFirst(2)) \(show(fromConfig)); the checkpoint has \(show(have)))")
            }
        }
        check("--K", k, named?.K, saved.K)
        check("--L", l, named?.L, saved.L)
        check("--hidden", hidden, named?.hidden, saved.hidden)
        check("--coupling", coupling, nil, saved.coupling.rawValue)
        check("--permutation", permutation, nil, saved.permutation.rawValue)
        if let lu, lu != saved.lu { out.append("--\(lu ? "" : "no-")lu (the checkpoint has lu = \(saved.lu))") }
        if let learnTop, learnTop != saved.learnTop {
            out.append("--\(learnTop ? "" : "no-")learn-top (the checkpoint has learn_top = \(saved.learnTop))")
        }
        check("--n-bits", nBits, nil, saved.nBits)
        check("--pad", pad, nil, saved.pad)
        if conditional && saved.classes == 0 { out.append("--conditional (the checkpoint is unconditional)") }
        return out
    }

    /// Checks the options that do not depend on the data.
    func checkOptions() throws {
        if steps != nil && epochs != nil { throw GlowError("give --steps or --epochs, not both") }
        if let steps, steps < 1 { throw GlowError("--steps \(steps): must be at least 1") }
        if let epochs, epochs < 1 { throw GlowError("--epochs \(epochs): must be at least 1") }
        if let minutes, !(minutes > 0 && minutes.isFinite) { throw GlowError("--minutes \(minutes): must be a positive number") }
        if let pad, pad < 0 { throw GlowError("--pad \(pad): must be 0 or more") }
        for (name, v) in [("--eval-every", evalEvery), ("--sample-every", sampleEvery), ("--save-every", saveEvery)] where v < 0 {
            throw GlowError("\(name) \(v): must be 0 or more")
        }
        if evalImages < 1 { throw GlowError("--eval-images \(evalImages): must be at least 1") }
        if resume && overwrite { throw GlowError("give --resume or --overwrite, not both") }
    }

    func execute(_ comm: any Communicator = SingleProcessCommunicator()) throws {
        try checkOptions()
        guard let memoryMode = MemoryMode(rawValue: memory) else { throw GlowError("--memory \(memory): expected store or reversible") }
        // One writer per --out (rank 0 writes under MPI): held until the process ends.
        let lock = comm.isRoot ? try RunLock(directory: out) : nil
        defer { withExtendedLifetime(lock) {} }
        let files = RunFiles(directory: out)
        var resumed: RunFiles.Pair?
        if resume {
            resumed = try files.latest()
        } else if !overwrite {
            let existing = files.existingRunFiles()
            if !existing.isEmpty {
                throw GlowError("--out \(out) already holds a run (\(existing.prefix(4).joined(separator: ", "))"
                    + "\(existing.count > 4 ? ", …" : "")): pass --resume to continue it, --overwrite to replace it, or another --out")
            }
        }
        var cfg: GlowConfig
        if let pair = resumed {
            let saved = try Checkpoint.config(of: pair.checkpoint, source: files.checkpoint)
            let conflicts = try resumeConflicts(saved)
            guard conflicts.isEmpty else {
                throw GlowError("--resume: " + conflicts.joined(separator: "; ")
                    + "; a resumed run keeps its checkpoint's model: omit these options, or start a new run in another --out")
            }
            cfg = saved
            cfg.batch = try batch ?? pair.state.metadata["batch"].flatMap(Int.init) ?? GlowConfig.named(config ?? "mnist").batch
        } else {
            cfg = try modelConfig()
        }
        let runSeed = seed ?? resumed?.state.metadata["seed"].flatMap(UInt64.init) ?? 1
        var opt = OptimizerConfig()
        // The configuration's recipe gives the optimizer, and with it the learning rate and
        // clipping; an optimizer given otherwise takes the plain defaults.
        let recipe = OptimizerConfig.recipe(for: config ?? "mnist")
        let optName = optimizer ?? resumed?.state.metadata["optimizer"] ?? recipe.kind.rawValue
        guard let kind = OptimizerConfig.Kind(rawValue: optName) else { throw GlowError("--optimizer \(optName): expected adam or adamax") }
        let fromRecipe = kind == recipe.kind
        // A resumed run continues with the settings its training state records (states
        // written before they were recorded fall back to the defaults, as then).
        let saved = resumed?.state.metadata ?? [:]
        func savedNumber<T: LosslessStringConvertible>(_ key: String) throws -> T? {
            guard let text = saved[key] else { return nil }
            guard let value = T(text) else { throw GlowError("\(out)/training-state.safetensors: its \(key) \"\(text)\" is not a number") }
            return value
        }
        opt.kind = kind
        switch ema {
        case nil: opt.ema = resumed != nil ? try savedNumber("ema") : recipe.ema
        case "none"?: opt.ema = nil
        case let text?:
            guard let d = Double(text) else { throw GlowError("--ema \(text): expected none or a decay in (0, 1), e.g. 0.999") }
            opt.ema = d
        }
        switch updateClip {
        case nil: opt.updateClip = resumed != nil ? try savedNumber("update_clip") : nil
        case "none"?: opt.updateClip = nil
        case let text?:
            guard let c = Double(text), c > 0, c.isFinite else {
                throw GlowError("--update-clip \(text): expected none or a positive cap on each weight's step, e.g. 1")
            }
            opt.updateClip = c
        }
        // An average the state holds keeps its schedule: a fixed decay where `ema_warmup` is absent.
        opt.emaWarmup = !(resumed?.state.holdsEMA ?? false) || saved["ema_warmup"] != nil
        opt.learningRate = try lr ?? savedNumber("lr") ?? (fromRecipe ? recipe.learningRate : 1e-3)
        opt.warmup = try warmup ?? savedNumber("warmup") ?? 200
        if let b: Double = try beta2 ?? savedNumber("beta2") { opt.beta2 = b }
        // A state without `skip_run` was trained with no limit (none, or an older release).
        switch skipRun {
        case nil: opt.skipRun = resumed != nil ? try savedNumber("skip_run") : recipe.skipRun
        case "none"?: opt.skipRun = nil
        case let text?:
            guard let n = Int(text), n >= 0 else { throw GlowError("--skip-run \(text): expected none or a count of 0 or more, e.g. 1") }
            opt.skipRun = n
        }
        // A resumed run rolls back as it did: a state holds the policy's state when it was on.
        let recovering = recover ?? (resumed != nil ? saved["recovery"] != nil : recipe.recover)
        let clip = self.clip ?? saved["clip"] ?? (fromRecipe ? recipe.clip : "auto")
        switch clip {
        case "auto": opt.adaptiveClip = true
        case "none": break
        case let c where c.hasPrefix("auto:"):
            guard let k = Double(c.dropFirst(5)), k > 1, k.isFinite else {
                throw GlowError("--clip \(clip): expected auto:K with K above 1, e.g. auto:4")
            }
            opt.adaptiveClip = true; opt.adaptiveClipFactor = k
        default:
            guard let c = Double(clip), c > 0, c.isFinite else {
                throw GlowError("--clip \(clip): expected auto, none or a positive number")
            }
            opt.clip = c
        }
        try opt.validate()
        let padding = pad ?? (resumed != nil ? cfg.pad : 0)
        if let imageSize {
            guard imageSize >= 1 else { throw GlowError("--image-size \(imageSize): must be at least 1") }
        }

        let kindOfData = try DatasetLoader.Kind.named(dataset)
        let rawTrain = try DatasetLoader.load(kindOfData, directory: data, split: "train", channels: cfg.channels)
        try checkPreparedSize(rawTrain, pad: padding)
        let trainSet = try DatasetLoader.prepare(rawTrain, imageSize: imageSize, pad: padding)
        var test: ImageSet?
        if !noTest {
            do {
                let rawTest = try DatasetLoader.load(kindOfData, directory: data, split: "test", channels: cfg.channels)
                try checkPreparedSize(rawTest, pad: padding)
                test = try DatasetLoader.prepare(rawTest, imageSize: imageSize, pad: padding)
            } catch {
                throw GlowError("the test split of --dataset \(dataset) cannot be used: \(error.commandLineDescription); fix it, or pass --no-test "
                    + "to train without test evaluation")
            }
        }
        if resumed == nil {
            cfg.channels = trainSet.channels; cfg.height = trainSet.height; cfg.width = trainSet.width; cfg.pad = padding
            if conditional {
                guard trainSet.labels != nil, trainSet.classes > 0 else {
                    throw GlowError("--conditional: --dataset \(dataset) has no labels")
                }
                cfg.classes = trainSet.classes
            }
        }
        try cfg.validate()
        if comm is ThreadCommunicator {
            // --batch (or the saved global batch) is the job's: each in-process rank takes its share.
            guard cfg.batch % comm.size == 0 else {
                throw GlowError("--batch \(cfg.batch) does not split evenly over --ranks \(comm.size): give a multiple of \(comm.size)")
            }
            cfg.batch /= comm.size
        }
        let totalSteps: Int
        if let steps {
            totalSteps = steps
        } else if let epochs {
            let (images, overflow) = epochs.multipliedReportingOverflow(by: trainSet.count)
            guard !overflow else { throw GlowError("--epochs \(epochs): \(epochs) × \(trainSet.count) images is past the largest step count") }
            let globalBatch = cfg.batch * comm.size
            totalSteps = images / globalBatch + (images % globalBatch == 0 ? 0 : 1)
        } else {
            totalSteps = 2000
        }
        // The data order counts images (step × batch) in an Int.
        guard !totalSteps.multipliedReportingOverflow(by: cfg.batch * comm.size).overflow else {
            throw GlowError("--steps \(totalSteps) with --batch \(cfg.batch): \(totalSteps) × \(cfg.batch) images is past the largest image count")
        }

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let stale = comm.isRoot ? AtomicFile.removeStaleTemporaries(in: out) : []
        if !stale.isEmpty { print("removed \(stale.count) temporary file\(stale.count > 1 ? "s" : "") of an interrupted save: \(stale.joined(separator: ", "))") }
        threadsOption.apply()
        let backend = try InProcessRanks.openingDevice {
            try DeviceSelector.open(device, precision: precision, localRank: comm.localRank, localSize: comm.localSize)
        }
        try train(backend, cfg, opt, recovering, memoryMode, runSeed, resumed, trainSet, test, totalSteps, comm)
    }

    /// Refuses a resampling or padding whose result would not fit in memory.
    func checkPreparedSize(_ set: ImageSet, pad p: Int) throws {
        let side = (imageSize.map { ($0, $0) } ?? (set.height, set.width))
        guard let h = Sizes.product([2, p]).flatMap({ side.0.addingReportingOverflow($0).overflow ? nil : side.0 + $0 }),
              let w = Sizes.product([2, p]).flatMap({ side.1.addingReportingOverflow($0).overflow ? nil : side.1 + $0 }) else {
            throw GlowError("--pad \(p): the padded image size is past the largest integer")
        }
        try MemoryLimit.check(elements: [set.count, set.channels, h, w], bytesEach: 1,
                              what: "\(set.count) images of \(set.channels)×\(h)×\(w)"
                                + (imageSize != nil ? " (--image-size \(imageSize!))" : "") + (p > 0 ? " (--pad \(p))" : ""))
    }

    /// The command that resumes this run: the same arguments with --resume.
    func resumeCommand() -> String {
        let args = CommandLine.arguments.dropFirst().filter { $0 != "--overwrite" && $0 != "--resume" }
        func quote(_ a: String) -> String {
            a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:=,@+".contains($0) }) ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        return "glow-gpu " + (args + ["--resume"]).map(quote).joined(separator: " ")
    }

    func train<B: Backend>(_ backend: B, _ cfg: GlowConfig, _ opt: OptimizerConfig, _ recovering: Bool, _ memoryMode: MemoryMode, _ seed: UInt64,
                           _ resumed: RunFiles.Pair?, _ trainSet: ImageSet, _ testSet: ImageSet?, _ totalSteps: Int,
                           _ comm: any Communicator) throws {
        if let note = resumed?.note { print(note) }
        let schedule = TrainingSchedule(totalSteps: totalSteps, evalEvery: evalEvery, evalImages: evalImages,
                                        sampleEvery: sampleEvery, saveEvery: saveEvery, minutes: minutes)
        let run = try TrainingRun(backend: backend, config: cfg, optimizer: opt, memory: memoryMode, seed: seed, resume: resumed,
                                  trainSet: trainSet, testSet: testSet, schedule: schedule, directory: out, communicator: comm,
                                  recovery: recovering ? Recovery() : nil)
        let model = run.model, trainer = run.trainer, files = run.files
        let params = model.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
        print("glow-gpu train: \(backend.name)" + (comm.size > 1 ? " (rank 0 of \(comm.size) \(comm is ThreadCommunicator ? "in-process" : "MPI") ranks)" : ""))
        print("  model \(cfg.channels)×\(cfg.height)×\(cfg.width) K=\(cfg.K) L=\(cfg.L) hidden=\(cfg.hidden) \(cfg.coupling.rawValue)/"
            + "\(cfg.permutation.rawValue)\(cfg.lu ? "+LU" : "") learn_top=\(cfg.learnTop) n_bits=\(cfg.nBits), \(params) parameters")
        print("  data \(dataset): \(trainSet.count) train, \(testSet.map { "\($0.count) test images" } ?? "no test images (--no-test)"); "
            + "batch \(cfg.batch)" + (comm.size > 1 ? " per rank × \(comm.size) ranks = \(trainer.globalBatch)" : "")
            + ", \(opt.kind.rawValue) lr \(opt.learningRate)\(opt.beta2 != 0.999 ? " β2 \(opt.beta2)" : "") warm-up \(opt.warmup), clip \(opt.clipSetting)"
            + (opt.adaptiveClip ? opt.skipRun.map { ", skip-run \($0)" } ?? "" : "")
            + (recovering ? ", recover" : "") + (opt.ema.map { ", ema \($0)" + (opt.emaWarmup ? " (growing from 0.1)" : "") } ?? "")
            + (opt.updateClip.map { ", update-clip \($0)" } ?? "") + ", memory \(memoryMode.rawValue)")
        print("  output \(out)\(resumed != nil ? " (resumed at step \(trainer.step))" : "")")
        if let state = resumed?.state, let decay = opt.ema, !state.holdsEMA {
            print("  EMA (decay \(decay)) starts from the weights of step \(trainer.step): the run was trained without it")
        }
        if trainer.step >= totalSteps {
            print("already at step \(trainer.step) ≥ --steps \(totalSteps); nothing to do")
            return
        }
        StopSignal.install()
        run.stopRequest = { StopSignal.pending }
        if resumed == nil {
            print("  initialising ActNorms from data…")
            try run.initialize()
            if overwrite && comm.isRoot {
                // The new run has started: only now do the old run's files go.
                for name in files.existingRunFiles() { try? FileManager.default.removeItem(atPath: out + "/" + name) }
            }
        }

        let progress = Progress(total: totalSteps, label: "train", first: trainer.step, deadline: minutes.map { Date().addingTimeInterval($0 * 60) })
        let outcome = try run.run { event in
            switch event {
            case let .skipped(r):
                progress.interrupt()
                if r.bpd.isFinite && r.gradientNorm.isFinite {
                    print(String(format: "step %d: gradient norm %.4g is far above the recent ones (skip threshold %.4g); update skipped",
                                 r.step, r.gradientNorm, r.skipThreshold ?? .nan))
                } else {
                    print("step \(r.step): non-finite loss (\(r.bpd)) or gradient norm (\(r.gradientNorm)); update skipped")
                }
            case let .stepped(r, ips, bpd, clipped, skipped):
                let guardNote = clipped + skipped > 0 ? "  clipped \(clipped) skipped \(skipped)" : ""
                progress.update(trainer.step, String(format: "%.1f img/s  bpd %.3f  lr %.1e", ips, bpd, r.learningRate) + guardNote)
            case let .evaluated(step, bpd, images, trainBPD):
                progress.interrupt()
                print(String(format: "step %d: test bpd %.4f on %d images (train bpd %.4f)", step, bpd, images, trainBPD))
            case let .evaluationNotFinite(step, bpd, images):
                progress.interrupt()
                print("step \(step): warning: the test bpd on \(images) images is not finite (\(bpd)); not recorded")
            case let .rolledBack(step, to, scale):
                progress.interrupt()
                print(String(format: "step %d: the mean train bpd stayed high; rolled back to the weights of step %d, learning rate × %g",
                             step, to, scale))
            case let .samplesNotFinite(step, notes):
                print("step \(step): warning: samples not finite, crossed out in samples.png: " + notes.joined(separator: "; ")
                    + " (the reverse pass overflowed: sample at a lower temperature, or train longer)")
            }
        }
        progress.interrupt()
        if let signal = outcome.stopSignal {
            print("stopped by \(StopSignal.name(signal)) at step \(outcome.step) of \(totalSteps); saved \(files.checkpoint) and \(files.state)")
            print("resume with: \(resumeCommand())")
            throw ExitCode(128 + signal)
        }
        print(String(format: "done: step %d of %d in %.1f min%@", outcome.step, totalSteps, outcome.minutes,
                     outcome.stoppedByBudget ? " (stopped by --minutes; --resume continues)" : ""))
        if let t = outcome.testBPD { print(String(format: "test bpd %.4f", t)) }
        print("wrote \(out)/checkpoint.safetensors, " + (opt.ema != nil ? "\(out)/checkpoint-ema.safetensors (the test bpd's and samples' weights), " : "")
            + "\(out)/training-state.safetensors, \(out)/metrics.jsonl, "
            + "\(out)/samples.png (two rows each at T = "
            + TrainingRun<B>.sampleTemperatures.map { String(format: "%g", $0) }.joined(separator: ", ") + "), \(out)/bpd.png")
    }
}
