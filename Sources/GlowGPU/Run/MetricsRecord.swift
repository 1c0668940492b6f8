import Foundation
import GlowCore

/// One line of a run's `metrics.jsonl`: one training step, and the test bpd when the step
/// evaluated.
public struct MetricsRecord: Sendable, Equatable {
    /// The step (1-based).
    public var step: Int
    /// The step's train bpd (NaN when not finite).
    public var trainBPD: Double
    /// The test bpd, when the step evaluated and the value was finite.
    public var testBPD: Double?
    /// Images per second over the last ~20 s of training.
    public var imagesPerSecond: Double
    /// The step's learning rate.
    public var learningRate: Double
    /// The global gradient norm before clipping.
    public var gradientNorm: Double
    /// The gradients were scaled down to the clipping threshold.
    public var clipped = false
    /// The update was skipped (non-finite, or a norm far above the recent ones).
    public var skipped = false
    /// The clipping threshold of the step (nil: none).
    public var clipThreshold: Double?
    /// With `--recover`: the step whose weights this step rolled back to (written only then).
    public var rolledBackTo: Int?

    /// A record.
    public init(step: Int, trainBPD: Double, testBPD: Double?, imagesPerSecond: Double, learningRate: Double,
                gradientNorm: Double, clipped: Bool = false, skipped: Bool = false, clipThreshold: Double? = nil,
                rolledBackTo: Int? = nil) {
        self.step = step; self.trainBPD = trainBPD; self.testBPD = testBPD; self.imagesPerSecond = imagesPerSecond
        self.learningRate = learningRate; self.gradientNorm = gradientNorm; self.clipped = clipped; self.skipped = skipped
        self.clipThreshold = clipThreshold; self.rolledBackTo = rolledBackTo
    }

    /// The JSON line (numbers with 6 significant digits; non-finite ones as null).
    public func json() -> String {
        func num(_ v: Double) -> String { v.isFinite ? String(format: "%.6g", v) : "null" }
        var s = "{\"step\": \(step), \"train_bpd\": \(num(trainBPD)), "
        s += "\"test_bpd\": \(testBPD.map(num) ?? "null"), \"images_per_second\": \(num(imagesPerSecond)), "
        s += "\"lr\": \(num(learningRate)), \"grad_norm\": \(num(gradientNorm)), "
        s += "\"clip\": \(clipThreshold.map(num) ?? "null"), \"clipped\": \(clipped), \"skipped\": \(skipped)"
        if let rolledBackTo { s += ", \"rolled_back_to\": \(rolledBackTo)" }
        s += "}"
        return s
    }

    /// Appends this record as one line (one write; a failed write leaves the file as it was).
    public func append(to path: String, truncateFirst: Bool = false) throws {
        try AtomicFile.append(Array((json() + "\n").utf8), to: path, truncateFirst: truncateFirst)
    }

    /// Replaces the file at `path` with `records`, atomically.
    public static func write(_ records: [MetricsRecord], to path: String) throws {
        try AtomicFile.write(Array(records.map { $0.json() + "\n" }.joined().utf8), to: path)
    }

    /// The records of the file at `path` (none when it cannot be read; unreadable lines skipped).
    public static func read(path: String) -> [MetricsRecord] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = o["step"] as? Int else { return nil }
            func d(_ k: String) -> Double? { (o[k] as? NSNumber)?.doubleValue }
            return MetricsRecord(step: step, trainBPD: d("train_bpd") ?? .nan, testBPD: d("test_bpd"),
                                 imagesPerSecond: d("images_per_second") ?? .nan, learningRate: d("lr") ?? .nan,
                                 gradientNorm: d("grad_norm") ?? .nan, clipped: o["clipped"] as? Bool ?? false,
                                 skipped: o["skipped"] as? Bool ?? false, clipThreshold: d("clip"),
                                 rolledBackTo: o["rolled_back_to"] as? Int)
        }
    }

    /// bpd against step as a PNG: train (smoothed over 20 steps) and test.
    public static func plot(_ records: [MetricsRecord], path: String) throws {
        var smooth: [(x: Double, y: Double)] = []
        var window: [Double] = []
        for r in records where r.trainBPD.isFinite {
            window.append(r.trainBPD)
            if window.count > 20 { window.removeFirst() }
            smooth.append((Double(r.step), window.reduce(0, +) / Double(window.count)))
        }
        let test = records.compactMap { r in r.testBPD.map { (x: Double(r.step), y: $0) } }
        let plot = LinePlot(title: "Glow training", xLabel: "step", yLabel: "bits per dimension", series: [
            .init(name: "train (mean of 20)", points: smooth, color: (31, 119, 180)),
            .init(name: "test", points: test, color: (214, 39, 40)),
        ])
        try plot.write(path: path)
    }
}
