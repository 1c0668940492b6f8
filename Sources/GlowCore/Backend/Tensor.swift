/// An activation on a backend: `images × channels × height × width`, stored channel-major
/// (CNHW, see `Backend`). Weight matrices use `Tensor` too, as `1 × rows × 1 × cols`
/// would be awkward, so they are plain `Parameter`s instead.
public final class Tensor<B: Backend> {
    /// The backend that owns `buffer`.
    public let backend: B
    /// The storage, `channels · images · height · width` floats in CNHW order.
    public let buffer: B.Buffer
    /// Batch size.
    public let images: Int
    /// Channel count.
    public let channels: Int
    /// Height in pixels.
    public let height: Int
    /// Width in pixels.
    public let width: Int

    /// Allocates an uninitialised tensor.
    public init(_ backend: B, images: Int, channels: Int, height: Int, width: Int) throws {
        self.backend = backend
        self.images = images; self.channels = channels; self.height = height; self.width = width
        guard let n = Sizes.product([images, channels, height, width]) else {
            throw GlowError("a [\(images), \(channels), \(height), \(width)] tensor: the size is past the largest integer or negative")
        }
        self.buffer = try backend.allocate(max(1, n))
    }

    /// Wraps an existing buffer.
    public init(_ backend: B, buffer: B.Buffer, images: Int, channels: Int, height: Int, width: Int) {
        self.backend = backend; self.buffer = buffer
        self.images = images; self.channels = channels; self.height = height; self.width = width
    }

    /// Uploads NCHW host values (the order of files and public APIs).
    public convenience init(_ backend: B, nchw values: [Float], images: Int, channels: Int,
                            height: Int, width: Int) throws {
        guard let n = Sizes.product([images, channels, height, width]), values.count == n else {
            throw GlowError("\(values.count) values given for a [\(images), \(channels), \(height), \(width)] tensor "
                + "(\(Sizes.product([images, channels, height, width]).map(String.init) ?? "too many") needed)")
        }
        try self.init(backend, images: images, channels: channels, height: height, width: width)
        try backend.upload(Tensor.transpose(values, outer: images, inner: channels, block: height * width),
                           to: buffer, offset: 0)
    }

    /// `height · width`.
    public var spatial: Int { height * width }
    /// `images · height · width`: the length of one channel row.
    public var cols: Int { images * height * width }
    /// The number of elements.
    public var count: Int { images * channels * height * width }
    /// `channels · height · width`: the dimension D of one image.
    public var dimension: Int { channels * height * width }

    /// Downloads the values in NCHW order.
    public func nchw() throws -> [Float] {
        let cnhw = try backend.download(buffer, offset: 0, count: count)
        return Tensor.transpose(cnhw, outer: channels, inner: images, block: spatial)
    }

    /// Swaps the two outer axes of an `outer × inner × block` array (NCHW ↔ CNHW).
    public static func transpose(_ v: [Float], outer: Int, inner: Int, block: Int) -> [Float] {
        if outer == 1 || inner == 1 { return v }
        var out = [Float](repeating: 0, count: v.count)
        v.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for o in 0..<outer {
                    for i in 0..<inner {
                        let s = (o * inner + i) * block, d = (i * outer + o) * block
                        for j in 0..<block { dst[d + j] = src[s + j] }
                    }
                }
            }
        }
        return out
    }
}
