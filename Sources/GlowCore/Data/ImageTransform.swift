import Foundation

/// Geometric transforms of whole image sets.
public enum ImageTransform {
    /// Resamples every image to `size × size` with an area (box) filter.
    ///
    /// Each output pixel is the mean of the input area it covers, with input pixels that are
    /// only partly covered weighted by the covered fraction (exact for non-integer ratios);
    /// this works for both down- and up-scaling and for non-square inputs. Sums are taken in
    /// `Double` with integer weights (exact), divided once by the total weight and rounded to
    /// nearest, halves up, so exact halves are never lost to rounding error.
    ///
    /// - Parameters:
    ///   - set: the images; labels are kept.
    ///   - size: the output side, at least 1.
    /// - Returns: `set` itself when it already is `size × size`, else the resampled set.
    /// - Throws: `DataError` when `size < 1`.
    public static func resizeArea(_ set: ImageSet, to size: Int) throws -> ImageSet {
        guard size >= 1 else {
            throw DataError(path: nil, problem: "resize: bad output size \(size), expected at least 1")
        }
        if set.height == size && set.width == size { return set }
        try checkOutput(set, height: size, width: size, what: "resize to \(size)×\(size)")
        let h = set.height, w = set.width
        let rows = areaWeights(input: h, output: size)
        let cols = areaWeights(input: w, output: size)
        let denominator = Double(h * w)   // the row weights sum to h and the column weights to w
        let planes = set.count * set.channels
        var out = [UInt8](repeating: 0, count: planes * size * size)
        var temp = [Double](repeating: 0, count: h * size)   // columns resampled, rows not yet
        var acc = [Double](repeating: 0, count: size)
        set.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
        temp.withUnsafeMutableBufferPointer { tmp in
        acc.withUnsafeMutableBufferPointer { acc in
        cols.weight.withUnsafeBufferPointer { colWeight in
        rows.weight.withUnsafeBufferPointer { rowWeight in
            let tmp = tmp.baseAddress!, acc = acc.baseAddress!
            let colWeight = colWeight.baseAddress!, rowWeight = rowWeight.baseAddress!
            for plane in 0 ..< planes {
                let input = src.baseAddress! + plane * h * w
                for y in 0 ..< h {
                    let row = input + y * w
                    for j in 0 ..< size {
                        let weights = colWeight + j * cols.stride
                        let pixels = row + cols.start[j]
                        var sum = 0.0
                        for t in 0 ..< cols.count[j] { sum += weights[t] * Double(pixels[t]) }
                        tmp[y * size + j] = sum
                    }
                }
                let output = dst.baseAddress! + plane * size * size
                for k in 0 ..< size {
                    acc.update(repeating: 0, count: size)
                    for t in 0 ..< rows.count[k] {
                        let weight = rowWeight[k * rows.stride + t]
                        let line = tmp + (rows.start[k] + t) * size
                        for j in 0 ..< size { acc[j] += weight * line[j] }
                    }
                    for j in 0 ..< size {
                        let value = (acc[j] / denominator).rounded(.toNearestOrAwayFromZero)
                        output[k * size + j] = UInt8(min(255, max(0, value)))
                    }
                }
            }
        }
        }
        }
        }
        }
        }
        return try ImageSet(count: set.count, channels: set.channels, height: size, width: size,
                        pixels: out, labels: set.labels, classes: set.classes)
    }

    /// Pads every image with `p` zero pixels on each side (so it grows by `2p` in each direction).
    ///
    /// - Parameters:
    ///   - set: the images; labels are kept.
    ///   - p: the border width, at least 0 (0 returns `set` unchanged).
    /// - Throws: `DataError` when `p < 0`.
    public static func pad(_ set: ImageSet, by p: Int) throws -> ImageSet {
        guard p >= 0 else {
            throw DataError(path: nil, problem: "pad: bad border \(p), expected at least 0")
        }
        guard let side = Sizes.product([2, p]), side <= Int.max - max(set.height, set.width) else {
            throw DataError(path: nil, problem: "pad: border \(p) is past the largest image size")
        }
        try checkOutput(set, height: set.height + side, width: set.width + side, what: "pad by \(p)")
        if p == 0 { return set }
        let h = set.height, w = set.width
        let oh = h + 2 * p, ow = w + 2 * p
        let planes = set.count * set.channels
        var out = [UInt8](repeating: 0, count: planes * oh * ow)
        set.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0 ..< planes {
                    for y in 0 ..< h {
                        let from = src.baseAddress! + (plane * h + y) * w
                        let to = dst.baseAddress! + (plane * oh + y + p) * ow + p
                        to.update(from: from, count: w)
                    }
                }
            }
        }
        return try ImageSet(count: set.count, channels: set.channels, height: oh, width: ow,
                        pixels: out, labels: set.labels, classes: set.classes)
    }

    /// One-dimensional area weights from `input` to `output` samples. Output sample `j` covers
    /// `[j·input, (j+1)·input)` and input pixel `i` covers `[i·output, (i+1)·output)` (both in
    /// units of `1/output` input pixels); its weights are the integer overlaps of the input
    /// pixels `start[j] ..< start[j] + count[j]`, stored from `weight[j · stride]`, and sum to `input`.
    /// Throws unless `set.count` images of `height × width` (and the resize's work row) fit in memory.
    static func checkOutput(_ set: ImageSet, height: Int, width: Int, what: String) throws {
        do {
            try MemoryLimit.check(bytes: MemoryLimit.sum([Sizes.product([set.count, set.channels, height, width]),
                                                          Sizes.product([set.height, width, 8])]),
                                  what: "\(what): \(set.count) images of \(set.channels)×\(height)×\(width)")
        } catch let e as GlowError { throw DataError(path: nil, problem: e.message) }
    }

    static func areaWeights(input: Int, output: Int) -> (start: [Int], count: [Int], weight: [Double], stride: Int) {
        let stride = (input + output - 1) / output + 1
        var start = [Int](repeating: 0, count: output)
        var count = [Int](repeating: 0, count: output)
        var weight = [Double](repeating: 0, count: output * stride)
        for j in 0 ..< output {
            let lo = j * input, hi = (j + 1) * input
            let first = lo / output, last = (hi - 1) / output
            start[j] = first
            count[j] = last - first + 1
            for i in first ... last {
                weight[j * stride + i - first] = Double(min(hi, (i + 1) * output) - max(lo, i * output))
            }
        }
        return (start, count, weight, stride)
    }
}
