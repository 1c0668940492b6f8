import Foundation

/// Deterministic shuffling from a 64-bit seed.
public enum Shuffle {
    /// A permutation of `0 ..< count` by Fisher–Yates with a `SplitMix64` generator seeded
    /// with `seed`: for `i` from `count − 1` down to 1, swap element `i` with element
    /// `j = rng.below(i + 1)`. The same seed always gives the same permutation.
    /// - Throws: `GlowError` for a negative count.
    public static func permutation(count: Int, seed: UInt64) throws -> [Int] {
        guard count >= 0 else { throw GlowError("shuffle: negative count \(count)") }
        var result = Array(0 ..< count)
        var rng = SplitMix64(seed: seed)
        var i = count - 1
        while i > 0 {
            let j = Int(rng.below(UInt64(i + 1)))
            result.swapAt(i, j)
            i -= 1
        }
        return result
    }
}
