import GlowCore

extension Setting {
    /// The option of `glow-gpu`'s commands that sets this, e.g. `--lr` for `learningRate`.
    public var flag: String {
        switch self {
        case .learningRate: "--lr"
        default: "--" + rawValue.reduce(into: "") { s, c in s += c.isUppercase ? "-" + c.lowercased() : String(c) }
        }
    }
}

extension Error {
    /// The error as `glow-gpu` prints it: settings named by their command-line options.
    public var commandLineDescription: String { describe(naming: \.flag) }
}

/// A library error as a command line shows it: `GlowError`'s settings named by their options
/// (`Setting.flag`). ArgumentParser prints it as "Error: <description>" and exits with 1.
public struct CommandLineError: Error, CustomStringConvertible {
    /// The text, options named as on the command line.
    public let description: String

    /// `error` with its settings named by options; any other error (ArgumentParser's own,
    /// exit codes, `DataError`) as it is.
    public static func presenting(_ error: Error) -> Error {
        guard error is GlowError else { return error }
        return CommandLineError(description: error.commandLineDescription)
    }
}
