import GlowCore

/// Self-test rows of operations run as data (`ElementOp`), each with its Float64 reference
/// written out from the case's definition: a new `ElementOp` gets its `Kind` here (or a row
/// beside its family, as the coupling and Gaussian ones in FusedChecks.swift);
/// `SelfTestTests` fails until every `ElementOp` has a row.
public struct ElementOpCheck: OperationCheck {
    /// The operations checked here.
    public enum Kind: Sendable, CaseIterable {
        /// `scale` at offsets, `size` elements.
        case scale
        /// `flipTaps3x3` both ways, O = `size`, C = `size + 2`.
        case flipTaps3x3
    }
    /// Which operation.
    public let kind: Kind
    /// Elements (`scale`) or output channels (`flipTaps3x3`).
    public let size: Int

    /// A check of `kind` at `size`.
    public init(_ kind: Kind, size: Int) { self.kind = kind; self.size = size }

    /// The rows `SelfTest.operationChecks` runs: every kind at its sizes.
    public static var rows: [ElementOpCheck] {
        Kind.allCases.flatMap { kind -> [ElementOpCheck] in
            switch kind {
            case .scale: [ElementOpCheck(kind, size: 301)]
            case .flipTaps3x3: [1, 5, 13].map { ElementOpCheck(kind, size: $0) }
            }
        }
    }

    public var elementOp: ElementOp? {
        switch kind {
        case .scale: .scale
        case .flipTaps3x3: .flipTaps3x3
        }
    }
    public var operation: BackendOperation { .run }
    public var shape: String {
        switch kind {
        case .scale: "\(size)"
        case .flipTaps3x3: "\(size)×\(size + 2)×3×3 both ways"
        }
    }
    /// Maps of one or two terms: relative to `max(|r|, 1)` (rounding there is absolute).
    public var measure: ErrorMeasure { .relative(floor: 1) }
    /// One Float32 rounding of an exact product and sum (`scale`); a permutation is exact.
    public var tolerance: Double { kind == .scale ? 1e-6 : 0 }

    public func outputs<B: Backend>(on b: B) throws -> [[Float]] {
        switch kind {
        case .scale:   // at offsets, with a margin either side
            let x = try b.makeBuffer(SelfTestInputs.values(size + 2, stream: 20))
            let y = try b.nanFilled(size + 1)
            try b.scale(x, xOffset: 2, alpha: -1.5, beta: 0.25, y: y, yOffset: 1, count: size)
            return [try b.download(y)]
        case .flipTaps3x3:
            let o = size, c = size + 2
            let w = try b.makeBuffer(SelfTestInputs.values(o * c * 9, stream: 82))
            let taps = try b.nanFilled(o * c * 9), back = try b.nanFilled(o * c * 9)
            try b.flipTaps3x3(w, taps, outChannels: o, inChannels: c, toTaps: true)
            try b.flipTaps3x3(taps, back, outChannels: o, inChannels: c, toTaps: false)
            return [try b.download(taps), try b.download(back)]
        }
    }

    public func float64Reference() -> Float64Reference? {
        switch kind {
        case .scale:
            let x = SelfTestInputs.values(size + 2, stream: 20).map(Double.init)
            return Float64Reference([[.nan] + x[2...].map { -1.5 * $0 + 0.25 }], as: self)
        case .flipTaps3x3:
            let o = size, c = size + 2
            let w = SelfTestInputs.values(o * c * 9, stream: 82).map(Double.init)
            var taps = [Double](repeating: .nan, count: w.count)
            for oc in 0..<o { for t in 0..<9 { for ci in 0..<c { taps[(oc * 9 + t) * c + ci] = w[(oc * c + ci) * 9 + 8 - t] } } }
            return Float64Reference([taps, w], as: self)   // and back again: the weights as they were
        }
    }
}
