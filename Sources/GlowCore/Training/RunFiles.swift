import Foundation

/// The checkpoint and training state of a run, kept in one folder as one consistent unit.
///
/// Both files carry the same `save_id` (and the step) in their metadata. A save writes and
/// fsyncs both new files first, then moves the current pair to `checkpoint.prev.safetensors`
/// and `training-state.prev.safetensors` and installs the new pair, so that at every moment
/// some checkpoint and some state on disk belong to the same save. `latest()` finds the
/// newest such pair (and repairs the folder so the main names hold it); a crash, a `kill -9`
/// or a full disk during a save therefore never leaves a run that resumes wrongly.
public struct RunFiles: Sendable {
    /// The run's folder.
    public let directory: String

    /// The files of the run in `directory`.
    public init(directory: String) { self.directory = directory }

    /// `checkpoint.safetensors`: the model (what `sample`, `eval`, … load).
    public var checkpoint: String { directory + "/checkpoint.safetensors" }
    /// `training-state.safetensors`: optimizer moments, EMA, step and seed.
    public var state: String { directory + "/training-state.safetensors" }
    /// The checkpoint of the save before the last.
    public var previousCheckpoint: String { directory + "/checkpoint.prev.safetensors" }
    /// The training state of the save before the last.
    public var previousState: String { directory + "/training-state.prev.safetensors" }

    /// Every file a run writes into its folder (for `--overwrite` and for refusing to mix runs).
    public static let runFileNames = ["checkpoint.safetensors", "training-state.safetensors", "checkpoint.prev.safetensors",
                                      "training-state.prev.safetensors", "checkpoint-ema.safetensors", "metrics.jsonl",
                                      "samples.png", "bpd.png"]

    /// The names of `runFileNames` (and `samples-step*.png`) present in the folder.
    public func existingRunFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { RunFiles.runFileNames.contains($0) || ($0.hasPrefix("samples-step") && $0.hasSuffix(".png")) }.sorted()
    }

    /// Saves `checkpoint` and `state` (which must carry the same `save_id` and `step`) as the
    /// new pair; the current pair becomes the previous one. Nothing is replaced unless both
    /// new files were written completely.
    public func save(checkpoint ckpt: SafeTensorsFile, state st: SafeTensorsFile) throws {
        let ckptBytes: [UInt8], stateBytes: [UInt8]
        do { ckptBytes = try ckpt.encode(); stateBytes = try st.encode() } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        let tmpC = try AtomicFile.stage(ckptBytes, for: checkpoint)
        let tmpS: String
        do { tmpS = try AtomicFile.stage(stateBytes, for: state) } catch { unlink(tmpC); throw error }
        do {
            try AtomicFile.move(checkpoint, to: previousCheckpoint)
            try AtomicFile.move(state, to: previousState)
            try AtomicFile.install(tmpC, as: checkpoint)
            try AtomicFile.install(tmpS, as: state)
        } catch {
            unlink(tmpC); unlink(tmpS)
            throw error
        }
    }

    /// A consistent pair found on disk.
    public struct Pair {
        /// The checkpoint file.
        public let checkpoint: SafeTensorsFile
        /// The training state file.
        public let state: SafeTensorsFile
        /// The step both describe.
        public let step: Int
        /// What was wrong with the newer files when an older pair had to be taken, else nil.
        public let note: String?
    }

    /// The newest checkpoint and state on disk that describe the same save. When the main
    /// names do not hold a consistent pair (a save was interrupted), the previous pair is
    /// taken, moved back to the main names, and `note` says so.
    /// - Throws: `GlowError` saying what was found when no consistent pair exists.
    public func latest() throws -> Pair {
        let fm = FileManager.default
        var problems: [String] = []
        func read(_ path: String) -> SafeTensorsFile? {
            guard fm.fileExists(atPath: path) else { return nil }
            do { return try SafeTensorsFile.read(path: path) } catch {
                problems.append("\(error)")
                return nil
            }
        }
        let ckpts = [checkpoint, previousCheckpoint].map { p in (p, read(p)) }
        let states = [state, previousState].map { p in (p, read(p)) }
        var best: (c: String, cf: SafeTensorsFile, s: String, sf: SafeTensorsFile, step: Int)?
        for (cp, cf) in ckpts {
            guard let cf else { continue }
            for (sp, sf) in states {
                guard let sf, let step = RunFiles.step(pairing: cf, with: sf) else { continue }
                if best == nil || step > best!.step { best = (cp, cf, sp, sf, step) }
            }
        }
        guard let b = best else {
            let present = [checkpoint, state, previousCheckpoint, previousState].filter { fm.fileExists(atPath: $0) }
            if present.isEmpty { throw GlowError("\(Setting.resume): \(directory) holds no checkpoint.safetensors and training-state.safetensors") }
            throw GlowError("\(Setting.resume): \(directory) holds no checkpoint and training state of the same save (found "
                + present.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
                + (problems.isEmpty ? "" : "; " + problems.joined(separator: "; ")) + ")")
        }
        var note: String?
        if b.c != checkpoint || b.s != state {
            note = "\(directory): the last save was interrupted; resuming from the consistent pair of step \(b.step)"
            if b.c != checkpoint { try AtomicFile.move(b.c, to: checkpoint) }
            if b.s != state { try AtomicFile.move(b.s, to: state) }
        }
        return Pair(checkpoint: b.cf, state: b.sf, step: b.step, note: note)
    }

    /// The step `checkpoint` and `state` both describe, or nil when they come from different
    /// saves. Files written before save ids existed pair when neither has one.
    static func step(pairing checkpoint: SafeTensorsFile, with state: SafeTensorsFile) -> Int? {
        guard let step = state.metadata["step"].flatMap(Int.init) else { return nil }
        let a = checkpoint.metadata["save_id"], b = state.metadata["save_id"]
        if a == nil && b == nil { return step }
        guard let a, a == b, checkpoint.metadata["train_step"] == String(step) else { return nil }
        return step
    }

    /// A fresh identifier tying the two files of one save together.
    public static func newSaveID() -> String {
        String(UInt64.random(in: 1 ... .max), radix: 16)
    }
}
