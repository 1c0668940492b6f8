import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu serve`: runs `glow-gpu-serve`, the server built beside this binary (docs/serve.md).
///
/// The server is a binary of its own because its HTTP library (FlyingFox) links Foundation's
/// networking library, and with it libcurl and some thirty shared libraries (OpenSSL, GnuTLS,
/// Kerberos, LDAP, …) that every other command, and the portable bundle, do without.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Serve the model: a web page (sample, interpolate, manipulate, encode an upload) and a JSON API.",
        discussion: """
        glow-gpu serve --checkpoint F [--device D] [--port 8080] [--host 127.0.0.1] … runs \
        glow-gpu-serve from the folder of this binary with the same arguments; \
        `glow-gpu serve --help` lists them all. See docs/serve.md.
        """)

    @Argument(parsing: .captureForPassthrough, help: "The server's options (--checkpoint F, --device, --port, --host, …).")
    var arguments: [String] = []

    /// `glow-gpu-serve` next to the running binary.
    static func serverPath() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("glow-gpu-serve").path
    }

    func run() throws {
        let path = Self.serverPath()
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw GlowError("glow-gpu serve runs \(path), which is not there: build it with `swift build --product glow-gpu-serve` "
                + "(a plain `swift build` builds it too; the portable bundle does not include it)")
        }
        let argv = [path] + arguments
        var cArgs = argv.map { strdup($0) }
        cArgs.append(nil)
        execv(path, cArgs)
        throw GlowError("glow-gpu serve: cannot run \(path): \(String(cString: strerror(errno)))")
    }
}
