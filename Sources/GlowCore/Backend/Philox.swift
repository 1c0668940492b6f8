/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
/// a counter-based generator, so element i of a stream is computed directly from
/// (seed, stream, i). kernels.cl implements the same function; both backends therefore
/// draw identical numbers for the same seed.
public enum Philox {
    /// The 4 words for counter block `block` of `stream` under `seed`.
    @inlinable
    public static func block(seed: UInt64, stream: UInt64, block: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: block), c1 = UInt32(truncatingIfNeeded: block >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream), c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = UInt32(truncatingIfNeeded: seed), k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n1 = UInt32(truncatingIfNeeded: p1)
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            let n3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0; c1 = n1; c2 = n2; c3 = n3
            k0 = k0 &+ 0x9E37_79B9; k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// Maps a 32-bit word to a float in (0, 1): the top 24 bits plus half a step, so the
    /// logarithm in Box–Muller never sees 0.
    @inlinable
    public static func unit(_ w: UInt32) -> Float {
        Float(w >> 8) * (1.0 / 16_777_216.0) + (0.5 / 16_777_216.0)
    }

    /// Fills `out` with `count` draws starting at element 0 of the stream.
    public static func fill(_ out: UnsafeMutablePointer<Float>, count: Int, distribution: RandomDistribution,
                            seed: UInt64, stream: UInt64) {
        var i = 0
        var blk: UInt64 = 0
        while i < count {
            let (a, b, c, d) = block(seed: seed, stream: stream, block: blk)
            var v: (Float, Float, Float, Float)
            switch distribution {
            case .normal:
                (v.0, v.1) = boxMuller(unit(a), unit(b))
                (v.2, v.3) = boxMuller(unit(c), unit(d))
            case let .uniform(low, high):
                let w = high - low
                v = (low + w * unit(a), low + w * unit(b), low + w * unit(c), low + w * unit(d))
            }
            out[i] = v.0
            if i + 1 < count { out[i + 1] = v.1 }
            if i + 2 < count { out[i + 2] = v.2 }
            if i + 3 < count { out[i + 3] = v.3 }
            i += 4; blk += 1
        }
    }

    /// Returns `count` draws as an array.
    public static func array(count: Int, distribution: RandomDistribution, seed: UInt64, stream: UInt64) -> [Float] {
        var r = [Float](repeating: 0, count: count)
        r.withUnsafeMutableBufferPointer { p in
            if let base = p.baseAddress { fill(base, count: count, distribution: distribution, seed: seed, stream: stream) }
        }
        return r
    }

    /// Box–Muller in Float32, written exactly as in kernels.cl.
    @inlinable
    static func boxMuller(_ u1: Float, _ u2: Float) -> (Float, Float) {
        let r = (-2 * logf(u1)).squareRoot()
        let t = 6.2831853071795864769 as Float * u2
        return (r * cosf(t), r * sinf(t))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
