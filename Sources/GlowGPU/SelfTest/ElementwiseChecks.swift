import GlowCore

/// `channelAffine` forward (with and without the fused ReLU) and reverse, input and
/// output at offsets.
public struct ChannelAffineCheck: OperationCheck {
    /// Matrix sizes.
    public let rows: Int, cols: Int
    /// Multiplier of `logs`.
    public let factor: Float
    /// Direction and fused ReLU.
    public let reverse: Bool, relu: Bool
    public var operation: BackendOperation { .channelAffine }
    public var shape: String { "\(rows)×\(cols) factor \(factor)\(reverse ? " reverse" : "")\(relu ? " relu" : "")" }
    public var measure: ErrorMeasure { .relative(floor: 1) }
    /// One exp and two roundings; device libm exp is within a few ulp.
    public var tolerance: Double { 1e-5 }

    /// A check of one direction and shape.
    public init(rows: Int, cols: Int, factor: Float, reverse: Bool, relu: Bool) {
        self.rows = rows; self.cols = cols; self.factor = factor; self.reverse = reverse; self.relu = relu
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let x = try b.makeBuffer(SelfTestInputs.values(2 + rows * cols, stream: 12))
        let bias = try b.makeBuffer(SelfTestInputs.values(rows, stream: 13))
        let logs = try b.makeBuffer(SelfTestInputs.values(rows, stream: 14, low: -1, high: 1))
        let y = try b.nanFilled(1 + rows * cols)
        try b.channelAffine(x, xOffset: 2, rows: rows, cols: cols, bias: bias, logs: logs, factor: factor,
                            reverse: reverse, relu: relu, y: y, yOffset: 1)
        return [try b.download(y)]
    }
}

/// `binary` for one function, at offsets.
public struct BinaryCheck: OperationCheck {
    /// The function.
    public let function: BinaryOp
    /// Elements.
    public let count: Int
    public var operation: BackendOperation { .binary }
    public var shape: String { "\(function) \(count)" }
    public var measure: ErrorMeasure { .relative(floor: 1e-3) }
    public var tolerance: Double { 1e-5 }

    /// A check of one function.
    public init(_ function: BinaryOp, count: Int) { self.function = function; self.count = count }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let a = try b.makeBuffer(SelfTestInputs.values(count + 3, stream: 17))
        let second = SelfTestInputs.values(count + 2, stream: 19)
        let y = try b.nanFilled(count + 4)
        try b.binary(function, a, aOffset: 3, try b.makeBuffer(second), bOffset: 2, y: y, yOffset: 4, count: count)
        return [try b.download(y)]
    }
}

/// `squeeze` and its inverse: a permutation, so exact.
public struct SqueezeCheck: OperationCheck {
    /// Un-squeezed sizes (height and width even).
    public let channels: Int, images: Int, height: Int, width: Int
    /// Direction.
    public let inverse: Bool
    public var operation: BackendOperation { .squeeze }
    public var shape: String { "C\(channels) N\(images) \(height)×\(width)\(inverse ? " inverse" : "")" }
    public var measure: ErrorMeasure { .relative(floor: 1e-3) }
    public var tolerance: Double { 0 }

    /// A check of one direction.
    public init(channels: Int, images: Int, height: Int, width: Int, inverse: Bool) {
        self.channels = channels; self.images = images; self.height = height; self.width = width; self.inverse = inverse
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let n = channels * images * height * width
        let y = try b.nanFilled(n)
        try b.squeeze(try b.makeBuffer(SelfTestInputs.values(n, stream: 21)), y: y, channels: channels, images: images,
                      height: height, width: width, inverse: inverse)
        return [try b.download(y)]
    }
}
