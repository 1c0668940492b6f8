import Foundation

/// `glow-gpu bench --json`: one object, keys sorted (snake case). Rates and sizes
/// keep 4 significant digits, per-step counts one decimal; `threads` is null off the CPU
/// backend and `profile` present only with `--profile`.
struct BenchReport: Encodable {
    var config: String, device: String, memory: String, K: Int, threads: Int?, batch: Int
    var imagesPerSecond: Double, gflopPerImage: Double, gflops: Double, sgemmGflops: Double
    var kernelLaunches: Double, hostWaits: Double, libraryCalls: Double, uploads: Double, downloads: Double
    var graphLaunches: Double, graphOperations: Int, skippedSteps: Int
    var launchesByKernel: [String: Double]
    var peakRSSMB: Double, stateRSSMB: Double
    var encodeImagesPerSecond: Double, sampleImagesPerSecond: Double, parameters: Int, ranks: Int
    var perRankImagesPerSecond: [Double], stepSeconds: Double
    var allreduceSecondsPerStep: Double, allreduceAloneSeconds: Double, allreduceModelBytesPerRankPerStep: Double
    /// Shares of a step by category, with `other` last (`--profile`).
    var profile: [(String, Double)]?

    enum Key: String, CodingKey {
        case config, device, memory, K, threads, batch, images_per_second, gflop_per_image, gflops, sgemm_gflops, ratio
        case kernel_launches_per_step, host_syncs_per_step, kernel_launches, library_calls, host_waits, uploads, downloads
        case graph_launches, graph_operations, skipped_steps, launches_by_kernel, peak_rss_mb, state_rss_mb, activation_peak_mb
        case encode_images_per_second, sample_images_per_second, parameters, ranks, per_rank_images_per_second, step_seconds
        case allreduce_seconds_per_step, allreduce_fraction, allreduce_alone_seconds, allreduce_model_bytes_per_rank_per_step
        case profile
    }

    /// A key of the `profile` object (a category name).
    struct Name: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// `v` to 4 significant digits (0 when not finite: JSON has no infinity).
    static func round4(_ v: Double) -> Double { v.isFinite ? Double(String(format: "%.4g", v)) ?? v : 0 }
    /// A per-step count: exact when whole, one decimal otherwise.
    static func count(_ v: Double) -> Double { (v * 10).rounded() / 10 }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        let r = Self.round4, n = Self.count
        try c.encode(config, forKey: .config); try c.encode(device, forKey: .device); try c.encode(memory, forKey: .memory)
        try c.encode(K, forKey: .K); try c.encode(threads, forKey: .threads); try c.encode(batch, forKey: .batch)
        try c.encode(r(imagesPerSecond), forKey: .images_per_second); try c.encode(r(gflopPerImage), forKey: .gflop_per_image)
        try c.encode(r(gflops), forKey: .gflops); try c.encode(r(sgemmGflops), forKey: .sgemm_gflops)
        try c.encode(r(gflops / sgemmGflops), forKey: .ratio)
        try c.encode(n(kernelLaunches), forKey: .kernel_launches_per_step); try c.encode(n(hostWaits), forKey: .host_syncs_per_step)
        try c.encode(n(kernelLaunches), forKey: .kernel_launches); try c.encode(n(libraryCalls), forKey: .library_calls)
        try c.encode(n(hostWaits), forKey: .host_waits); try c.encode(n(uploads), forKey: .uploads)
        try c.encode(n(downloads), forKey: .downloads); try c.encode(n(graphLaunches), forKey: .graph_launches)
        try c.encode(graphOperations, forKey: .graph_operations); try c.encode(skippedSteps, forKey: .skipped_steps)
        var kernels = c.nestedContainer(keyedBy: Name.self, forKey: .launches_by_kernel)
        for (k, v) in launchesByKernel.sorted(by: { $0.key < $1.key }) { try kernels.encode(n(v), forKey: Name(stringValue: k)) }
        try c.encode(r(peakRSSMB), forKey: .peak_rss_mb); try c.encode(r(stateRSSMB), forKey: .state_rss_mb)
        try c.encode(r(peakRSSMB - stateRSSMB), forKey: .activation_peak_mb)
        try c.encode(r(encodeImagesPerSecond), forKey: .encode_images_per_second)
        try c.encode(r(sampleImagesPerSecond), forKey: .sample_images_per_second)
        try c.encode(parameters, forKey: .parameters); try c.encode(ranks, forKey: .ranks)
        try c.encode(perRankImagesPerSecond.map(r), forKey: .per_rank_images_per_second)
        try c.encode(r(stepSeconds), forKey: .step_seconds)
        try c.encode(r(allreduceSecondsPerStep), forKey: .allreduce_seconds_per_step)
        try c.encode(r(allreduceSecondsPerStep / stepSeconds), forKey: .allreduce_fraction)
        try c.encode(r(allreduceAloneSeconds), forKey: .allreduce_alone_seconds)
        try c.encode(r(allreduceModelBytesPerRankPerStep), forKey: .allreduce_model_bytes_per_rank_per_step)
        if let profile {
            var p = c.nestedContainer(keyedBy: Name.self, forKey: .profile)
            for (k, v) in profile { try p.encode(r(v), forKey: Name(stringValue: k)) }
        }
    }

    /// The object as one line, keys sorted.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
