/// A failure the user can act on: a bad configuration, input, file or device. The message
/// names the offending field, file or value.
public struct GlowError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for a person.
    public let message: String
    /// Creates an error with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
