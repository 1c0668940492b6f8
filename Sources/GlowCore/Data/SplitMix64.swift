import Foundation

/// The SplitMix64 pseudo-random generator (Steele, Lea & Flood 2014): a 64-bit state
/// advanced by the golden-ratio increment and mixed into each output. Deterministic on
/// every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The current state; the next output is derived from `state &+ 0x9E3779B97F4A7C15`.
    public var state: UInt64

    /// A generator whose first output is the SplitMix64 output for `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0 ..< bound` (`bound ≥ 1`), unbiased, by Lemire's
    /// multiply-and-reject method; the sequence depends only on the seed.
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0, "SplitMix64.below: bound must be positive")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }
}
