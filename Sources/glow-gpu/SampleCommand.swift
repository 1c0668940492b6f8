import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu sample`: draw images from the model.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample",
        abstract: "Draw images from the model at one or several temperatures.",
        discussion: """
        --out FILE.png writes a grid (one row per temperature when several are given); \
        --out FILE.safetensors writes x [N, C, H, W] in model space and temperature [N]. \
        Every temperature uses the same seed, so a column shows the same noise at each temperature.
        """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Images per temperature.")
    var count: Int = 16

    @Option(help: "Sampling temperature (0.7 is the paper's choice).")
    var temperature: Float?

    @Option(help: "Several temperatures, comma-separated, e.g. 0,0.5,0.7,1 (one grid row each).")
    var temperatures: String?

    @Option(name: .customLong("class"), help: "Class label, for a class-conditional model only.")
    var classLabel: Int?

    @Option(help: "Philox seed; the same seed gives the same images on every device.")
    var seed: UInt64 = 0

    @Option(help: "Images per row of a grid with one temperature (default ⌈√count⌉).")
    var columns: Int?

    @Option(help: "The output: .png (a grid) or .safetensors.")
    var out: String

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count \(count): must be at least 1") }
        if temperature != nil && temperatures != nil { throw ValidationError("give --temperature or --temperatures, not both") }
        for t in try temps() where !(t.isFinite && t >= 0) {
            throw ValidationError("temperature \(t): must be finite and ≥ 0")
        }
        if let columns, columns < 1 { throw ValidationError("--columns \(columns): must be at least 1") }
        try requireExtension(out, ["png", "safetensors"])
    }

    func temps() throws -> [Float] {
        if let temperatures { return try parseFloats(temperatures, option: "--temperatures") }
        return [temperature ?? 0.7]
    }

    func run() throws {
        let m = try model.load()
        let ts = try temps()
        if let classLabel, m.config.classes == 0 {
            throw GlowError("--class \(classLabel): the model in \(model.checkpoint) is unconditional (config classes = 0); omit --class")
        }
        let start = DispatchTime.now()
        var rows: [[Float]] = []
        for t in ts {
            rows.append(try m.sampleFloats(count: count, temperature: t, seed: seed, classLabel: classLabel))
        }
        let secs = seconds(since: start)
        let total = count * ts.count
        // Images whose reverse pass overflowed: named, drawn as a crossed placeholder, the others written.
        for (t, row) in zip(ts, rows) {
            let bad = Preprocess.notFiniteImages(row, imageSize: m.config.dimension)
            guard !bad.isEmpty else { continue }
            FileHandle.standardError.write(Data(("warning: at T = \(String(format: "%g", t)), \(bad.count) of \(count) images are "
                + "not finite (image\(bad.count > 1 ? "s" : "") \(bad.prefix(20).map(String.init).joined(separator: ", "))"
                + "\(bad.count > 20 ? ", …" : "")): their reverse pass overflowed Float32; "
                + (fileExtension(out) == "png" ? "they are drawn crossed out. " : "their values in \(out) are not finite. ")
                + "sample at a lower temperature than \(String(format: "%g", t)), or from a model trained longer\n").utf8))
        }
        if fileExtension(out) == "png" {
            let px = try rows.map { try m.pixels($0, count: count).pixels }
            let c = m.config
            if ts.count == 1 {
                try m.pixels(rows[0], count: count).writePNGGrid(path: out, columns: columns)
            } else {
                try ImageGrid.writeRows(path: out, rows: px, channels: c.channels, height: c.height, width: c.width)
            }
        } else {
            let c = m.config
            var f = SafeTensorsFile(metadata: ["format": "glow-gpu-images/1", "config": c.json(), "seed": String(seed)])
            do {
                try f.add("x", shape: [total, c.channels, c.height, c.width], floats: Array(rows.joined()))
                try f.add("temperature", shape: [total], floats: ts.flatMap { Array(repeating: $0, count: count) })
                try f.write(path: out)
            } catch let e as SafeTensorsError { throw GlowError(text: e.message) }
        }
        let tl = ts.map { String(format: "%g", $0) }.joined(separator: ",")
        print("sampled \(total) images at T=\(tl) on \(m.deviceName) (\(String(format: "%.1f", Double(total) / max(secs, 1e-9))) images/s) → \(out)")
    }
}
