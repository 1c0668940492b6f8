import GlowCore

/// The fused 3×3 convolutions (`conv3x3Forward`, `conv3x3BackwardData`,
/// `conv3x3BackwardWeights`), at offsets, with the scratch the backend asks for
/// (`conv3x3ScratchCount`, NaN-filled) or none (`columns: nil`). The data gradient
/// accumulates onto existing values; the others write NaN-poisoned outputs.
public struct Conv3x3Check: OperationCheck {
    /// Which pass.
    public enum Kind: String, Sendable, CaseIterable {
        /// `conv3x3Forward`.
        case forward = "conv3x3Forward"
        /// `conv3x3BackwardData`.
        case backwardData = "conv3x3BackwardData"
        /// `conv3x3BackwardWeights`.
        case backwardWeights = "conv3x3BackwardWeights"

        var operation: BackendOperation {
            switch self {
            case .forward: .conv3x3Forward
            case .backwardData: .conv3x3BackwardData
            case .backwardWeights: .conv3x3BackwardWeights
            }
        }
    }
    /// The pass.
    public let kind: Kind
    /// Channels in and out, and the activation's sizes.
    public let inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int
    /// Pass the backend's own scratch (true) or let it allocate (false).
    public let scratch: Bool
    /// Every input replaced by its absolute value: the run that gives
    /// `ErrorMeasure.componentwise` its scales (the convolution is linear in each input).
    var absoluteInputs = false
    public var operation: BackendOperation { kind.operation }
    public var shape: String {
        "\(inChannels)→\(outChannels) N\(images) \(height)×\(width)\(scratch ? "" : " no scratch")"
    }
    public var measure: ErrorMeasure { .normwise }
    /// Float32 sums of 9·C (or N·H·W) terms in different orders.
    public var tolerance: Double { 2e-5 }

    /// A check of one pass and shape.
    public init(_ kind: Kind, inChannels: Int, outChannels: Int, images: Int, height: Int, width: Int, scratch: Bool = true) {
        self.kind = kind; self.inChannels = inChannels; self.outChannels = outChannels
        self.images = images; self.height = height; self.width = width; self.scratch = scratch
    }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        let p = images * height * width
        let values = { (count: Int, stream: UInt64) in
            absoluteInputs ? SelfTestInputs.values(count, stream: stream).map(abs) : SelfTestInputs.values(count, stream: stream)
        }
        let w = try b.makeBuffer(values(outChannels * inChannels * 9, 50))
        let n = b.conv3x3ScratchCount(inChannels: inChannels, outChannels: outChannels, images: images, height: height, width: width)
        let columns = scratch && n > 0 ? try b.nanFilled(n) : nil
        switch kind {
        case .forward:
            let x = try b.makeBuffer(values(2 + inChannels * p, 51))
            let y = try b.nanFilled(3 + outChannels * p)
            try b.conv3x3Forward(x, xOffset: 2, weight: w, inChannels: inChannels, outChannels: outChannels, images: images,
                                 height: height, width: width, y: y, yOffset: 3, columns: columns)
            return [try b.download(y)]
        case .backwardData:
            let dy = try b.makeBuffer(values(1 + outChannels * p, 52))
            let dx = try b.makeBuffer(values(4 + inChannels * p, 53))
            try b.conv3x3BackwardData(dy, dyOffset: 1, weight: w, inChannels: inChannels, outChannels: outChannels,
                                      images: images, height: height, width: width, dx: dx, dxOffset: 4, columns: columns)
            return [try b.download(dx)]
        case .backwardWeights:
            let x = try b.makeBuffer(values(2 + inChannels * p, 54))
            let dy = try b.makeBuffer(values(1 + outChannels * p, 55))
            let dw = try b.nanFilled(outChannels * inChannels * 9)
            try b.conv3x3BackwardWeights(x, xOffset: 2, dy: dy, dyOffset: 1, inChannels: inChannels, outChannels: outChannels,
                                         images: images, height: height, width: width, dw: dw, columns: columns)
            return [try b.download(dw)]
        }
    }
}
