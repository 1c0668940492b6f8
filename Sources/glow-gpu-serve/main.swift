import ArgumentParser
import Foundation
import GlowGPU
import GlowServe

/// `glow-gpu serve` (run by `glow-gpu serve`, or directly): the model behind a web page and a
/// JSON API (docs/serve.md).
@main
struct ServeCommand: ParsableCommand {
    /// As `glow-gpu`: OpenBLAS's idle threads spin for a while after each call unless
    /// OPENBLAS_THREAD_TIMEOUT is set before the library loads, so the process re-executes
    /// itself once with it set (unless the user set it; `glow-gpu serve` passes it on).
    static func main() {
        if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)   // returns only on failure: carry on as we are
        }
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            exit(withError: CommandLineError.presenting(error))   // settings named by their options
        }
    }

    static let configuration = CommandConfiguration(commandName: "glow-gpu serve",
        abstract: "Serve the model: a web page (sample, interpolate, manipulate, encode an upload) and a JSON API.",
        discussion: """
        Loads the checkpoint once, computes the label directions of the data set (or reads them \
        from <checkpoint>.directions.safetensors, where they are cached), and serves \
        http://HOST:PORT/. Binds 127.0.0.1 (this machine only) unless --host says otherwise. \
        Model calls run one at a time; --queue bounds how many may wait (503 past that). \
        See docs/serve.md.
        """)

    @Option(help: "The model checkpoint (a glow-gpu safetensors file).")
    var checkpoint: String

    @Option(help: "\(BackendRegistry.deviceHelp)")
    var device: String = BackendRegistry.auto

    @Option(help: "fp32, or tf32: the coupling networks' convolutions on TF32 tensor cores (CUDA only).")
    var precision: String = "fp32"

    @Option(help: "Images per device call when encoding or decoding.")
    var batch: Int = 64

    @Option(help: "CPU backend threads (default: the cores this process may use, from its affinity mask and cgroup CPU quota). Results do not depend on it.")
    var threads: Int?

    @Option(help: "The address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 (every interface), ::1, …")
    var host: String = "127.0.0.1"

    @Option(help: "The port (0: any free port, printed at start).")
    var port: Int = 8080

    @Option(help: "The data set the interpolation and manipulation panels use: mnist, fashion-mnist, cifar10, folder, or none (default: mnist for 1-channel models, none otherwise).")
    var dataset: String?

    @Option(help: "The data set's folder (as for the other commands).")
    var data: String?

    @Option(help: "train or test.")
    var split: String = "test"

    @Option(help: "Images per group for each label's direction (the manipulate command's --count).")
    var directionCount: Int = 100

    @Option(help: "Where the label directions are cached (default: <checkpoint>.directions.safetensors; 'none': not cached).")
    var directionsCache: String?

    @Option(help: "Model calls running or waiting at once; one more is answered 503.")
    var queue: Int = 4

    @Option(help: "Seconds a model call may take from its arrival to its answer.")
    var timeout: Double = 30

    @Option(help: "Seconds a connection may stay silent before it is closed.")
    var idleTimeout: Double = 10

    @Option(help: "The largest request body in MiB (uploads travel inside it, base64).")
    var maxBodyMb: Int = 8

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch \(batch): must be at least 1") }
        if let threads {
            do { try CPUThreads.validate(threads) } catch { throw ValidationError(error.commandLineDescription) }
        }
        guard GEMMPrecision(rawValue: precision) != nil else { throw ValidationError("--precision \(precision): expected fp32 or tf32") }
        guard (0 ... 65535).contains(port) else { throw ValidationError("--port \(port): must be 0…65535") }
        guard split == "train" || split == "test" else { throw ValidationError("--split \(split): expected train or test") }
        guard directionCount >= 1 else { throw ValidationError("--direction-count \(directionCount): must be at least 1") }
        guard queue >= 1 else { throw ValidationError("--queue \(queue): must be at least 1") }
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout \(timeout): must be a positive number of seconds") }
        guard idleTimeout.isFinite, idleTimeout > 0 else { throw ValidationError("--idle-timeout \(idleTimeout): must be a positive number of seconds") }
        guard (1 ... 1024).contains(maxBodyMb) else { throw ValidationError("--max-body-mb \(maxBodyMb): must be 1…1024") }
        if let dataset, dataset != "none" { _ = try DatasetLoader.Kind.named(dataset) }
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)   // each line at once, also into a file or a pipe
        if let threads { CPUThreads.requested = threads }
        let m = try GlowModel(checkpoint: checkpoint, device: device, precision: GEMMPrecision(rawValue: precision) ?? .fp32)
        m.batchSize = batch
        let c = m.config
        print("glow-gpu serve: loaded \(checkpoint) (K=\(c.K), L=\(c.L), hidden \(c.hidden), \(c.channels)×\(c.height)×\(c.width)) on \(m.deviceName)")

        var served: ServeDataset?
        var directions: ManipulationDirections?
        let name = dataset ?? (c.channels == 1 ? "mnist" : "none")
        if name != "none" {
            let kind = try DatasetLoader.Kind.named(name)
            let raw = try DatasetLoader.load(kind, directory: data, split: split, channels: c.channels)
            let (images, resized) = try ServeSetup.fit(raw, for: m)
            served = ServeDataset(name: name, split: split, images: images, labelNames: ServeSetup.labelNames(dataset: name))
            print("glow-gpu serve: data set \(name) \(split), \(images.count) images"
                + (resized ? " (resized from \(raw.height)×\(raw.width) to \(images.height)×\(images.width))" : ""))
            if images.labels != nil {
                let cache = directionsCache == "none" ? nil : (directionsCache ?? ServeSetup.directionsPath(checkpoint: checkpoint))
                let key = ServeSetup.cacheKey(checkpoint: checkpoint, dataset: name, split: split, count: directionCount,
                                              images: images.count)
                let start = DispatchTime.now()
                let (d, cached) = try ServeSetup.directions(model: m, images: images, count: directionCount, cache: cache, key: key) {
                    print("glow-gpu serve: \($0)")
                }
                directions = d
                print("glow-gpu serve: directions of labels \(d.labels.map(String.init).joined(separator: ",")) "
                    + (cached ? "read from \(cache ?? "")" : "computed in \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)) s"
                        + (cache.map { " and cached in \($0)" } ?? "")))
            }
        }

        var limits = ServeLimits()
        limits.maxBodyBytes = maxBodyMb << 20
        let bpd = ServeSetup.testBPD(checkpoint: checkpoint)
        let options = GlowServer.Options(host: host, port: port, limits: limits, queueCapacity: queue, timeout: timeout,
                                         idleTimeout: idleTimeout, checkpoint: checkpoint, testBPD: bpd?.bpd,
                                         testBPDSource: bpd?.source)
        let server = GlowServer(model: m, dataset: served, directions: directions, options: options)
        let outcome = Outcome()
        // Detached: run() holds the main thread (it may be the main actor's) until the server ends.
        Task.detached {
            do {
                let bound = try await server.start()
                let shown = host.contains(":") ? "[\(host)]" : host
                let scope = ["127.0.0.1", "localhost", "::1"].contains(host)
                    ? "loopback only: other machines cannot connect; --host 0.0.0.0 serves every interface"
                    : "every machine that can reach this address can connect"
                print("glow-gpu serve: listening on http://\(shown):\(bound)/ (\(scope)); Ctrl-C stops")
                fflush(stdout)
                try await server.wait()
                outcome.finish(nil)
            } catch {
                outcome.finish(error)
            }
        }
        if let error = outcome.wait() { throw error }
    }
}

/// The server task's end, waited for by the command's (synchronous) thread.
private final class Outcome: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: Error?

    func finish(_ e: Error?) { error = e; done.signal() }

    func wait() -> Error? { done.wait(); return error }
}
