/// A setting of the library that a caller gives a value for. Errors name settings by this
/// type, never by a command-line flag: the library calls the learning rate `learningRate`,
/// and `glow-gpu` turns it into `--lr` when it prints the error (`GlowError.describe`).
public enum Setting: String, Sendable, CaseIterable {
    case config, batch, learningRate, beta2, warmup, clip, skipRun, ema, updateClip, seed, optimizer
    case dataset, data, split, offset, count, imageSize, pad, resume, out, threads, device, precision
}

/// A failure the user can act on: a bad setting, input, file or device. The library raises
/// it with the setting it concerns (`Setting`), what was given and what was expected; a
/// program shows it with `description` (the library's names) or `describe(naming:)` (its own,
/// such as command-line flags).
public enum GlowError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `setting` was given `value` (empty when there is none to show); `expected` says what
    /// it must be.
    case invalid(Setting, value: String, expected: Message)
    /// A resumed run was given `given` for `setting`, but `file` was trained with `saved`.
    case differsFromSaved(file: String, setting: Setting, saved: String, given: String)
    /// Any other failure, for a person (it may still name settings).
    case failed(Message)

    /// A failure with `message`.
    public init(_ message: Message) { self = .failed(message) }
    /// A failure with the plain text `text`.
    public init(text: String) { self = .failed(Message(text)) }

    /// The error as a message, its settings not yet named.
    public var text: Message {
        switch self {
        case let .invalid(setting, value, expected):
            "\(setting)" + (value.isEmpty ? "" : " \(value)") + ": " + expected
        case let .differsFromSaved(file, setting, saved, given):
            "\(file): was trained with \(setting) \(saved), not \(given); pass \(setting) \(saved)"
        case let .failed(message):
            message
        }
    }

    /// The text with settings named by `name`.
    public func describe(naming name: (Setting) -> String) -> String { text.render(name) }

    /// The text with the library's names of settings.
    public var description: String { describe(naming: \.rawValue) }
    /// The same as `description`.
    public var message: String { description }

    /// Text for a person in which settings stay settings until it is shown, so that each
    /// program names them its own way. Written as a string literal: `"lower \(Setting.learningRate)"`.
    public struct Message: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
        enum Part: Sendable, Equatable { case text(String), setting(Setting) }
        var parts: [Part] = []

        public init(stringLiteral value: String) { parts = [.text(value)] }
        public init(stringInterpolation: Interpolation) { parts = stringInterpolation.parts }

        /// The text with settings named by `name`.
        public func render(_ name: (Setting) -> String) -> String {
            parts.map { part in
                switch part {
                case let .text(t): t
                case let .setting(s): name(s)
                }
            }.joined()
        }
        public var description: String { render(\.rawValue) }
        /// Plain text, as it is.
        public init(_ text: String) { parts = [.text(text)] }
        /// Messages concatenate, with each other and with plain text.
        public static func + (a: Message, b: Message) -> Message { var m = a; m.parts += b.parts; return m }
        public static func + (a: Message, b: String) -> Message { a + Message(b) }
        public static func + (a: String, b: Message) -> Message { Message(a) + b }

        /// Builds a message from a string literal with interpolations.
        public struct Interpolation: StringInterpolationProtocol {
            var parts: [Part] = []
            public init(literalCapacity: Int, interpolationCount: Int) {}
            public mutating func appendLiteral(_ literal: String) { if !literal.isEmpty { parts.append(.text(literal)) } }
            /// A setting, named when the message is shown.
            public mutating func appendInterpolation(_ setting: Setting) { parts.append(.setting(setting)) }
            /// Another message, its settings kept.
            public mutating func appendInterpolation(_ message: Message) { parts += message.parts }
            /// Any other value, as `String(describing:)` gives it.
            public mutating func appendInterpolation<T>(_ value: T) { parts.append(.text(String(describing: value))) }
        }
    }
}

extension Error {
    /// The error's text with settings named by `name` (a `GlowError`'s), else its description.
    public func describe(naming name: (Setting) -> String) -> String {
        (self as? GlowError)?.describe(naming: name) ?? "\(self)"
    }
}
