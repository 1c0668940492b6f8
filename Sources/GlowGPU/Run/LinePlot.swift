import Foundation

/// A small line chart rendered to RGB pixels or a PNG file, with no dependencies beyond
/// `PNGImage`. Made for training curves such as bits per dimension against step.
///
/// The chart has a white background, a framed plot area with light grid lines, tick marks
/// at "nice" values (1, 2 or 5 × 10^k apart) with numeric labels on both axes, a title on
/// top, axis labels (the y label reads bottom to top), and a legend naming each series
/// that has a name. Text uses a built-in 5×7 pixel font (digits, letters A–Z a–z, space
/// and `. - + : / ( ) = , ? _ % [ ]`; any other character is drawn as `?`).
///
/// Each series is drawn as Bresenham lines between consecutive points, in the order
/// given, clipped to the plot area. A point whose x or y is not finite is skipped and
/// breaks the line; a point with no finite neighbour is drawn as a small dot. A plot with
/// no finite points still draws its axes and the text "no data".
///
/// ```swift
/// let plot = LinePlot(title: "Glow on MNIST", xLabel: "step", yLabel: "bits/dim",
///                     series: [.init(name: "train", x: steps, y: bpd)])
/// try plot.write(path: "bpd.png")
/// ```
public struct LinePlot: Sendable {
    /// One curve: named, coloured points joined in order.
    public struct Series: Sendable {
        /// The name shown in the legend; an empty name leaves the series out of the legend.
        public var name: String
        /// The points, joined in this order. Points with a non-finite coordinate are skipped
        /// and break the line.
        public var points: [(x: Double, y: Double)]
        /// The line colour as (red, green, blue).
        public var color: (UInt8, UInt8, UInt8)

        /// Makes a series from points.
        ///
        /// - Parameters:
        ///   - name: the legend entry (empty for none).
        ///   - points: the points, joined in order.
        ///   - color: the line colour as (red, green, blue); a blue by default.
        public init(name: String, points: [(x: Double, y: Double)], color: (UInt8, UInt8, UInt8) = (31, 119, 180)) {
            self.name = name
            self.points = points
            self.color = color
        }

        /// Makes a series from parallel arrays of x and y values (extra values in the longer
        /// array are ignored).
        ///
        /// - Parameters:
        ///   - name: the legend entry (empty for none).
        ///   - x: the x values, e.g. training steps.
        ///   - y: the y values, e.g. bits per dimension.
        ///   - color: the line colour as (red, green, blue); a blue by default.
        public init(name: String, x: [Double], y: [Double], color: (UInt8, UInt8, UInt8) = (31, 119, 180)) {
            self.init(name: name, points: zip(x, y).map { (x: $0, y: $1) }, color: color)
        }
    }

    /// Distinct colours for several series (blue, orange, green, red, purple, brown, pink,
    /// grey), as (red, green, blue).
    public static let palette: [(UInt8, UInt8, UInt8)] = [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
        (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
    ]

    /// The title drawn centred above the plot (empty for none).
    public var title: String
    /// The label under the x axis (empty for none).
    public var xLabel: String
    /// The label left of the y axis, reading bottom to top (empty for none).
    public var yLabel: String
    /// The curves, drawn in this order (later ones on top).
    public var series: [Series]
    /// The image width in pixels.
    public var width: Int = 640
    /// The image height in pixels.
    public var height: Int = 400
    /// The line thickness in pixels, 1 to 4 (default 2).
    public var lineWidth: Int = 2
    /// A fixed x axis range, or `nil` (the default) for the finite data range padded by 5%.
    /// A range that is not finite or has equal bounds is ignored.
    public var xRange: ClosedRange<Double>? = nil
    /// A fixed y axis range, or `nil` (the default) for the finite data range padded by 5%.
    /// A range that is not finite or has equal bounds is ignored.
    public var yRange: ClosedRange<Double>? = nil

    /// Makes a plot.
    ///
    /// - Parameters:
    ///   - title: the title on top (empty for none).
    ///   - xLabel: the x axis label (empty for none).
    ///   - yLabel: the y axis label (empty for none).
    ///   - series: the curves.
    ///   - width: the image width in pixels (default 640).
    ///   - height: the image height in pixels (default 400).
    public init(title: String, xLabel: String, yLabel: String, series: [Series], width: Int = 640, height: Int = 400) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.width = width
        self.height = height
    }

    /// Renders the chart.
    ///
    /// - Returns: the size and `height × width × 3` bytes of RGB pixels, row-major with
    ///   channels interleaved (HWC); no bytes when a size is not positive.
    public func render() -> (width: Int, height: Int, pixels: [UInt8]) {
        guard width > 0, height > 0 else { return (width, height, []) }
        let f = frame()
        var canvas = Canvas(width: width, height: height)
        let plotFrame = Rect(minX: f.left, minY: f.top, maxX: f.right, maxY: f.bottom)
        let inside = Rect(minX: f.left + 1, minY: f.top + 1, maxX: f.right - 1, maxY: f.bottom - 1)

        // Grid lines at the ticks, under everything else.
        for t in f.xTicks {
            let px = f.pixel(x: t, y: f.yLo).x
            if px > f.left, px < f.right { canvas.fill(Rect(minX: px, minY: f.top, maxX: px, maxY: f.bottom), Style.grid) }
        }
        for t in f.yTicks {
            let py = f.pixel(x: f.xLo, y: t).y
            if py > f.top, py < f.bottom { canvas.fill(Rect(minX: f.left, minY: py, maxX: f.right, maxY: py), Style.grid) }
        }

        // The curves.
        let thickness = Swift.min(4, Swift.max(1, lineWidth))
        for s in series { drawSeries(s, frame: f, thickness: thickness, clip: inside, on: &canvas) }

        // The frame and the ticks with their labels.
        canvas.outline(plotFrame, Style.axis)
        for (t, label) in zip(f.xTicks, f.xTickLabels) {
            let px = f.pixel(x: t, y: f.yLo).x
            canvas.fill(Rect(minX: px, minY: f.bottom + 1, maxX: px, maxY: f.bottom + Style.tick), Style.axis)
            let w = Font.width(label, scale: 1)
            canvas.text(label, x: linePlotClamp(px - w / 2, 0, width - w), y: f.bottom + Style.tick + 3, scale: 1, color: Style.tickText)
        }
        for (t, label) in zip(f.yTicks, f.yTickLabels) {
            let py = f.pixel(x: f.xLo, y: t).y
            canvas.fill(Rect(minX: f.left - Style.tick, minY: py, maxX: f.left - 1, maxY: py), Style.axis)
            let w = Font.width(label, scale: 1)
            canvas.text(label, x: Swift.max(0, f.left - Style.tick - 3 - w), y: linePlotClamp(py - 3, 0, height - Font.height),
                        scale: 1, color: Style.tickText)
        }

        // Title and axis labels.
        if !title.isEmpty {
            let w = Font.width(title, scale: f.titleScale)
            canvas.text(title, x: Swift.max(0, (width - w) / 2), y: Style.pad, scale: f.titleScale, color: Style.text)
        }
        if !xLabel.isEmpty {
            let w = Font.width(xLabel, scale: 1)
            let y = f.bottom + Style.tick + 3 + Font.height + 5
            canvas.text(xLabel, x: linePlotClamp((f.left + f.right - w) / 2, 0, width - w), y: y, scale: 1, color: Style.text)
        }
        if !yLabel.isEmpty {
            let w = Font.width(yLabel, scale: 1)
            canvas.text(yLabel, x: Style.pad, y: linePlotClamp((f.top + f.bottom - w) / 2, 0, height - w), scale: 1,
                        color: Style.text, vertical: true)
        }

        if f.hasData {
            if let legend = legendLayout(frame: f) { drawLegend(legend, on: &canvas) }
        } else {
            let message = "no data"
            let w = Font.width(message, scale: 2)
            canvas.text(message, x: (f.left + f.right - w) / 2, y: (f.top + f.bottom) / 2 - Font.height,
                        scale: 2, color: Style.noData)
        }
        return (width, height, canvas.pixels)
    }

    /// Renders the chart and writes it as an 8-bit RGB PNG.
    ///
    /// - Parameter path: the file to create or overwrite.
    /// - Throws: `DataError` when the size is not positive or the file cannot be written.
    public func write(path: String) throws {
        let image = render()
        try PNGImage.write(path: path, width: image.width, height: image.height, channels: 3, pixels: image.pixels)
    }

    // MARK: Layout

    /// Colours and sizes of the chart furniture.
    enum Style {
        static let background: RGB = (255, 255, 255)
        static let axis: RGB = (0, 0, 0)
        static let grid: RGB = (232, 232, 232)
        static let text: RGB = (0, 0, 0)
        static let tickText: RGB = (40, 40, 40)
        static let noData: RGB = (128, 128, 128)
        static let legendBorder: RGB = (170, 170, 170)
        /// Outer padding of the image.
        static let pad = 6
        /// Tick mark length, outside the plot area.
        static let tick = 4
    }

    /// Where the plot area lies and how data maps onto it.
    struct Frame {
        /// Plot area bounds in pixels, inclusive; the frame lines lie on them.
        var left = 0, top = 0, right = 1, bottom = 1
        /// The axis ranges: `xLo` maps to `left`, `xHi` to `right`, `yLo` to `bottom`, `yHi` to `top`.
        var xLo = 0.0, xHi = 1.0, yLo = 0.0, yHi = 1.0
        var xTicks: [Double] = [], yTicks: [Double] = []
        var xTickLabels: [String] = [], yTickLabels: [String] = []
        var titleScale = 2
        /// Whether any series has a point with finite coordinates.
        var hasData = false

        /// The exact (fractional) pixel position of a data point.
        func position(x: Double, y: Double) -> (x: Double, y: Double) {
            let px = Double(left) + (x - xLo) / (xHi - xLo) * Double(right - left)
            let py = Double(bottom) - (y - yLo) / (yHi - yLo) * Double(bottom - top)
            return (px, py)
        }

        /// The pixel nearest a data point (far-off points are clamped to ±10⁷).
        func pixel(x: Double, y: Double) -> (x: Int, y: Int) {
            let p = position(x: x, y: y)
            return (LinePlot.toInt(p.x), LinePlot.toInt(p.y))
        }
    }

    /// The pixel `(column, row)` where the data point `(x, y)` is drawn in `render()`.
    func pixel(forX x: Double, y: Double) -> (x: Int, y: Int) {
        frame().pixel(x: x, y: y)
    }

    /// Lays out the plot: axis ranges, ticks and their labels, margins.
    func frame() -> Frame {
        var f = Frame()
        var xs: [Double] = [], ys: [Double] = []
        for s in series {
            for p in s.points where p.x.isFinite && p.y.isFinite {
                xs.append(p.x)
                ys.append(p.y)
            }
        }
        f.hasData = !xs.isEmpty
        (f.xLo, f.xHi) = Self.axisRange(fixed: xRange, data: xs)
        (f.yLo, f.yHi) = Self.axisRange(fixed: yRange, data: ys)

        let tickLabelSpace = Style.tick + 3 + Font.height
        f.titleScale = Font.width(title, scale: 2) <= width - 2 * Style.pad ? 2 : 1
        f.top = title.isEmpty ? 12 : Style.pad + Font.height * f.titleScale + 10
        let bottomMargin = tickLabelSpace + (xLabel.isEmpty ? 0 : 5 + Font.height) + Style.pad
        f.bottom = Swift.max(f.top + 1, height - 1 - bottomMargin)

        // y ticks first: their labels set the left margin.
        let plotHeight = f.bottom - f.top
        (f.yTicks, f.yTickLabels) = Self.ticks(lo: f.yLo, hi: f.yHi, count: linePlotClamp(plotHeight / 40, 2, 10),
                                               pixels: plotHeight, minGap: Font.height + 6)
        let yLabelWidth = f.yTickLabels.map { Font.width($0, scale: 1) }.max() ?? 0
        f.left = Style.pad + (yLabel.isEmpty ? 0 : Font.height + 5) + yLabelWidth + 3 + Style.tick

        // x ticks: as many as fit without labels touching; the last label may need room on the right.
        var rightMargin = 16
        for _ in 0 ..< 2 {
            f.right = Swift.max(f.left + 1, width - 1 - rightMargin)
            let plotWidth = f.right - f.left
            var count = linePlotClamp(plotWidth / 70, 2, 10)
            while true {
                (f.xTicks, f.xTickLabels) = Self.ticks(lo: f.xLo, hi: f.xHi, count: count, pixels: plotWidth, minGap: 0)
                let widest = f.xTickLabels.map { Font.width($0, scale: 1) }.max() ?? 0
                let gap = f.xTicks.count > 1 ? (f.xTicks[1] - f.xTicks[0]) / (f.xHi - f.xLo) * Double(plotWidth) : .infinity
                if gap >= Double(widest + 10) || count <= 2 { break }
                count -= 1
            }
            let needed = f.xTicks.last.map { t -> Int in
                let overhang = Font.width(f.xTickLabels.last!, scale: 1) / 2 + 4
                let px = f.left + Int(((t - f.xLo) / (f.xHi - f.xLo) * Double(plotWidth)).rounded())
                return overhang - (f.right - px)
            } ?? 0
            if needed <= rightMargin { break }
            rightMargin = needed
        }
        return f
    }

    /// The axis range: `fixed` when usable, else the finite data range padded by 5% on each
    /// side (±1, or ±10% of the value, when all values are equal), else 0…1.
    static func axisRange(fixed: ClosedRange<Double>?, data: [Double]) -> (Double, Double) {
        if let r = fixed, r.lowerBound.isFinite, r.upperBound.isFinite, r.lowerBound < r.upperBound {
            return (r.lowerBound, r.upperBound)
        }
        guard var lo = data.min(), var hi = data.max() else { return (0, 1) }
        // Keep the span finite.
        lo = Swift.max(lo, -1e300)
        hi = Swift.min(hi, 1e300)
        if lo == hi {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            return (lo - pad, hi + pad)
        }
        let pad = (hi - lo) * 0.05
        return (lo - pad, hi + pad)
    }

    /// Ticks and their labels for an axis `pixels` long; with `minGap > 0`, fewer ticks are
    /// used until neighbours are at least `minGap` pixels apart.
    static func ticks(lo: Double, hi: Double, count: Int, pixels: Int, minGap: Int) -> ([Double], [String]) {
        var count = count
        while true {
            let ticks = niceTicks(min: lo, max: hi, count: count)
            let gap = ticks.count > 1 ? (ticks[1] - ticks[0]) / (hi - lo) * Double(pixels) : .infinity
            if gap >= Double(minGap) || count <= 2 {
                let step = ticks.count > 1 ? ticks[1] - ticks[0] : niceStep(span: hi - lo, count: count)
                return (ticks, tickLabels(ticks, step: step))
            }
            count -= 1
        }
    }

    /// A step of 1, 2 or 5 × 10^k near `span / count`.
    static func niceStep(span: Double, count: Int) -> Double {
        let raw = abs(span) / Double(Swift.max(1, count))
        guard raw.isFinite, raw > 0 else { return 1 }
        let magnitude = pow(10, log10(raw).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return nice * magnitude
    }

    /// The multiples of a nice step (1, 2 or 5 × 10^k, giving about `count` intervals over
    /// the range) that lie in `min…max`, ascending. The first tick is less than a step above
    /// `min` and the last less than a step below `max`. A single value for an empty range,
    /// none for a non-finite one.
    static func niceTicks(min lo: Double, max hi: Double, count: Int) -> [Double] {
        guard lo.isFinite, hi.isFinite else { return [] }
        let a = Swift.min(lo, hi), b = Swift.max(lo, hi)
        if a == b { return [a] }
        let step = niceStep(span: b - a, count: count)
        let first = (a / step - 1e-9).rounded(.up)
        let last = (b / step + 1e-9).rounded(.down)
        guard first <= last, last - first <= 1000 else { return [] }
        return stride(from: first, through: last, by: 1).map { k in
            let v = k * step
            return v == 0 ? 0 : v  // no "-0"
        }
    }

    /// Compact labels for ticks `step` apart: plain decimals with as many places as the step
    /// needs and trailing zeros dropped ("0", "0.05", "1.25", "2000"), or `1.5e6`-style
    /// labels for values of a million or more and steps needing over 4 places.
    static func tickLabels(_ ticks: [Double], step: Double) -> [String] {
        let maxAbs = ticks.map { abs($0) }.max() ?? 0
        let stepExponent = step > 0 && step.isFinite ? Int((log10(step) + 1e-9).rounded(.down)) : 0
        // The fewest places that show multiples of the step exactly (1 for 0.2, 2 for 0.25).
        var decimals = 0
        if step > 0 && step.isFinite {
            while decimals < 7 {
                let scaled = step * pow(10, Double(decimals))
                if abs(scaled - scaled.rounded()) <= scaled * 1e-6 { break }
                decimals += 1
            }
        }
        if maxAbs < 1e6 && decimals <= 4 {
            return ticks.map { formatNumber(abs($0) < abs(step) * 1e-6 ? 0 : $0, decimals: decimals) }
        }
        return ticks.map { v in
            if v == 0 || abs(v) < abs(step) * 1e-6 { return "0" }
            var exponent = Int(log10(abs(v)).rounded(.down))
            var mantissa = v / pow(10, Double(exponent))
            if abs(mantissa) >= 9.9995 {  // rounds up to 10
                exponent += 1
                mantissa /= 10
            }
            let places = linePlotClamp(exponent - stepExponent, 0, 3)
            return formatNumber(mantissa, decimals: places) + "e\(exponent)"
        }
    }

    /// `value` with `decimals` places, trailing zeros and a trailing point dropped; no "-0".
    static func formatNumber(_ value: Double, decimals: Int) -> String {
        var s = String(format: "%.\(Swift.max(0, decimals))f", value)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        if s == "-0" { s = "0" }
        return s
    }

    /// Rounds to the nearest Int, clamped to ±10⁷ (NaN gives −10⁷).
    static func toInt(_ v: Double) -> Int {
        guard v == v else { return -10_000_000 }
        return Int(Swift.min(1e7, Swift.max(-1e7, v)).rounded())
    }

    // MARK: Series

    /// Draws one series: lines between consecutive finite points, dots for isolated ones.
    private func drawSeries(_ s: Series, frame f: Frame, thickness: Int, clip: Rect, on canvas: inout Canvas) {
        let bounds = (minX: Double(clip.minX), minY: Double(clip.minY), maxX: Double(clip.maxX), maxY: Double(clip.maxY))
        var previous: (x: Double, y: Double)? = nil
        var runLength = 0
        func endRun() {
            if runLength == 1, let p = previous {
                canvas.dot(x: Self.toInt(p.x), y: Self.toInt(p.y), clip: clip, color: s.color)
            }
            previous = nil
            runLength = 0
        }
        for point in s.points {
            guard point.x.isFinite, point.y.isFinite else {
                endRun()
                continue
            }
            let p = f.position(x: point.x, y: point.y)
            guard p.x.isFinite, p.y.isFinite else {
                endRun()
                continue
            }
            if let q = previous, let (a, b) = Self.clipSegment(q, p, to: bounds) {
                canvas.line(Self.toInt(a.x), Self.toInt(a.y), Self.toInt(b.x), Self.toInt(b.y),
                            thickness: thickness, clip: clip, color: s.color)
            }
            previous = p
            runLength += 1
        }
        endRun()
    }

    /// The part of segment `p`–`q` inside `r` (Liang–Barsky), or `nil` when none is.
    static func clipSegment(_ p: (x: Double, y: Double), _ q: (x: Double, y: Double),
                            to r: (minX: Double, minY: Double, maxX: Double, maxY: Double))
        -> ((x: Double, y: Double), (x: Double, y: Double))? {
        let dx = q.x - p.x, dy = q.y - p.y
        var t0 = 0.0, t1 = 1.0
        for (pk, qk) in [(-dx, p.x - r.minX), (dx, r.maxX - p.x), (-dy, p.y - r.minY), (dy, r.maxY - p.y)] {
            if pk == 0 {
                if qk < 0 { return nil }
            } else {
                let t = qk / pk
                if pk < 0 {
                    if t > t1 { return nil }
                    t0 = Swift.max(t0, t)
                } else {
                    if t < t0 { return nil }
                    t1 = Swift.min(t1, t)
                }
            }
        }
        return ((p.x + t0 * dx, p.y + t0 * dy), (p.x + t1 * dx, p.y + t1 * dy))
    }

    // MARK: Legend

    /// The legend box and the series it lists.
    struct Legend {
        var rect: Rect
        var entries: [Int]
    }

    private static let legendRow = 11
    private static let legendSwatch = 14

    /// The legend for the named series, in whichever plot corner (top right, top left,
    /// bottom right, bottom left, in that order of preference) covers the fewest curve
    /// pixels; `nil` when no series has a name.
    func legendLayout(frame f: Frame) -> Legend? {
        let entries = series.indices.filter { !series[$0].name.isEmpty }
        guard !entries.isEmpty else { return nil }
        let nameWidth = entries.map { Font.width(series[$0].name, scale: 1) }.max() ?? 0
        let w = 6 + Self.legendSwatch + 4 + nameWidth + 6
        let h = 4 + entries.count * Self.legendRow + 1
        let inset = 6
        let xs = [f.right - inset - w, f.left + inset]
        let ys = [f.top + inset, f.bottom - inset - h]
        let candidates = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[0], ys[1]), (xs[1], ys[1])].map {
            Rect(minX: $0.0, minY: $0.1, maxX: $0.0 + w - 1, maxY: $0.1 + h - 1)
        }
        var hits = [Int](repeating: 0, count: candidates.count)
        var budget = 200_000
        func sample(_ x: Double, _ y: Double) {
            budget -= 1
            for (i, c) in candidates.enumerated()
            where x >= Double(c.minX - 2) && x <= Double(c.maxX + 2) && y >= Double(c.minY - 2) && y <= Double(c.maxY + 2) {
                hits[i] += 1
            }
        }
        outer: for s in series {
            var previous: (x: Double, y: Double)? = nil
            for point in s.points {
                guard budget > 0 else { break outer }
                guard point.x.isFinite, point.y.isFinite else { previous = nil; continue }
                let p = f.position(x: point.x, y: point.y)
                sample(p.x, p.y)
                if let q = previous {
                    let length = hypot(p.x - q.x, p.y - q.y)
                    if length > 4, length.isFinite {
                        let n = Swift.min(Int(length / 4), 1000)
                        for i in 1 ..< Swift.max(2, n) {
                            let t = Double(i) / Double(Swift.max(2, n))
                            sample(q.x + t * (p.x - q.x), q.y + t * (p.y - q.y))
                        }
                    }
                }
                previous = p
            }
        }
        let best = hits.indices.min { hits[$0] < hits[$1] } ?? 0
        return Legend(rect: candidates[best], entries: entries)
    }

    private func drawLegend(_ legend: Legend, on canvas: inout Canvas) {
        canvas.fill(legend.rect, Style.background)
        canvas.outline(legend.rect, Style.legendBorder)
        for (row, index) in legend.entries.enumerated() {
            let s = series[index]
            let y = legend.rect.minY + 4 + row * Self.legendRow
            let x = legend.rect.minX + 6
            canvas.fill(Rect(minX: x, minY: y + 2, maxX: x + Self.legendSwatch - 1, maxY: y + 4), s.color)
            canvas.text(s.name, x: x + Self.legendSwatch + 4, y: y, scale: 1, color: Style.text)
        }
    }

    // MARK: Canvas

    /// An (red, green, blue) colour.
    typealias RGB = (UInt8, UInt8, UInt8)

    /// An inclusive pixel rectangle.
    struct Rect {
        var minX: Int, minY: Int, maxX: Int, maxY: Int

        func contains(_ x: Int, _ y: Int) -> Bool { x >= minX && x <= maxX && y >= minY && y <= maxY }
    }

    /// An RGB pixel buffer with the drawing operations the plot needs; drawing outside the
    /// image is ignored.
    struct Canvas {
        let width: Int
        let height: Int
        /// `height × width × 3` bytes, HWC.
        var pixels: [UInt8]

        init(width: Int, height: Int, background: RGB = Style.background) {
            self.width = Swift.max(0, width)
            self.height = Swift.max(0, height)
            var pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
            for i in stride(from: 0, to: pixels.count, by: 3) {
                pixels[i] = background.0
                pixels[i + 1] = background.1
                pixels[i + 2] = background.2
            }
            self.pixels = pixels
        }

        /// The colour at column `x`, row `y` (which must be inside the image).
        func color(x: Int, y: Int) -> RGB {
            let i = (y * width + x) * 3
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }

        mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            pixels[i] = c.0
            pixels[i + 1] = c.1
            pixels[i + 2] = c.2
        }

        mutating func fill(_ r: Rect, _ c: RGB) {
            let x0 = Swift.max(0, r.minX), x1 = Swift.min(width - 1, r.maxX)
            let y0 = Swift.max(0, r.minY), y1 = Swift.min(height - 1, r.maxY)
            guard x0 <= x1, y0 <= y1 else { return }
            for y in y0 ... y1 { for x in x0 ... x1 { set(x, y, c) } }
        }

        mutating func outline(_ r: Rect, _ c: RGB) {
            fill(Rect(minX: r.minX, minY: r.minY, maxX: r.maxX, maxY: r.minY), c)
            fill(Rect(minX: r.minX, minY: r.maxY, maxX: r.maxX, maxY: r.maxY), c)
            fill(Rect(minX: r.minX, minY: r.minY, maxX: r.minX, maxY: r.maxY), c)
            fill(Rect(minX: r.maxX, minY: r.minY, maxX: r.maxX, maxY: r.maxY), c)
        }

        /// A `thickness`-pixel square at each pixel of the Bresenham line from (x0, y0) to
        /// (x1, y1), keeping only pixels inside `clip`.
        mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, thickness: Int, clip: Rect, color: RGB) {
            let low = -(thickness - 1) / 2, high = thickness / 2
            var x = x0, y = y0
            let dx = abs(x1 - x0), dy = -abs(y1 - y0)
            let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
            var err = dx + dy
            while true {
                for oy in low ... high {
                    for ox in low ... high where clip.contains(x + ox, y + oy) { set(x + ox, y + oy, color) }
                }
                if x == x1 && y == y1 { break }
                let e2 = 2 * err
                if e2 >= dy { err += dy; x += sx }
                if e2 <= dx { err += dx; y += sy }
            }
        }

        /// A dot of radius 2 centred on (x, y), drawn only when the centre is inside `clip`.
        mutating func dot(x: Int, y: Int, clip: Rect, color: RGB) {
            guard clip.contains(x, y) else { return }
            for oy in -2 ... 2 {
                for ox in -2 ... 2 where ox * ox + oy * oy <= 5 && clip.contains(x + ox, y + oy) {
                    set(x + ox, y + oy, color)
                }
            }
        }

        /// Draws `string` with its top-left corner at (x, y), each font pixel a
        /// `scale × scale` block. Vertical text is turned a quarter turn anticlockwise and
        /// reads bottom to top inside the box `x ..< x + 7·scale`, `y ..< y + width`.
        mutating func text(_ string: String, x: Int, y: Int, scale: Int, color: RGB, vertical: Bool = false) {
            let scale = Swift.max(1, scale)
            let total = Font.width(string, scale: scale)
            var offset = 0
            for ch in string {
                let rows = Font.rows(for: ch)
                for (gy, bits) in rows.enumerated() {
                    for gx in 0 ..< Font.glyphWidth where bits & (1 << (Font.glyphWidth - 1 - gx)) != 0 {
                        for sy in 0 ..< scale {
                            for sx in 0 ..< scale {
                                let along = offset + gx * scale + sx, across = gy * scale + sy
                                if vertical {
                                    set(x + across, y + total - 1 - along, color)
                                } else {
                                    set(x + along, y + across, color)
                                }
                            }
                        }
                    }
                }
                offset += Font.advance * scale
            }
        }
    }

    // MARK: Font

    /// A 5×7 pixel font designed for this plot: digits, letters, space and a little
    /// punctuation. Glyphs advance 6 pixels (one blank column).
    enum Font {
        static let glyphWidth = 5
        static let height = 7
        static let advance = 6

        /// The width in pixels of `string` drawn at `scale` (no trailing blank column).
        static func width(_ string: String, scale: Int) -> Int {
            let n = string.count
            return n == 0 ? 0 : (n * advance - 1) * Swift.max(1, scale)
        }

        /// The glyph of `ch` as 7 row bitmasks, top row first, bit 4 the leftmost column;
        /// `?` for characters the font lacks.
        static func rows(for ch: Character) -> [UInt8] {
            table[ch] ?? table["?"]!
        }

        /// Whether the font has a glyph for `ch`.
        static func covers(_ ch: Character) -> Bool { table[ch] != nil }

        static let table: [Character: [UInt8]] = {
            var table: [Character: [UInt8]] = [:]
            for (ch, rows) in glyphs {
                precondition(rows.count == height && rows.allSatisfy { $0.count == glyphWidth }, "bad glyph \(ch)")
                table[ch] = rows.map { UInt8($0, radix: 2)! }
            }
            return table
        }()

        private static let glyphs: [Character: [String]] = [
            " ": ["00000", "00000", "00000", "00000", "00000", "00000", "00000"],
            "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
            "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
            "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
            "3": ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
            "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
            "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
            "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
            "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
            "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
            "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
            ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
            "-": ["00000", "00000", "00000", "01110", "00000", "00000", "00000"],
            "+": ["00000", "00100", "00100", "11111", "00100", "00100", "00000"],
            ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
            "/": ["00000", "00001", "00010", "00100", "01000", "10000", "00000"],
            "(": ["00010", "00100", "01000", "01000", "01000", "00100", "00010"],
            ")": ["01000", "00100", "00010", "00010", "00010", "00100", "01000"],
            "=": ["00000", "00000", "11111", "00000", "11111", "00000", "00000"],
            ",": ["00000", "00000", "00000", "00000", "01100", "00100", "01000"],
            "?": ["01110", "10001", "00001", "00010", "00100", "00000", "00100"],
            "_": ["00000", "00000", "00000", "00000", "00000", "00000", "11111"],
            "%": ["11000", "11001", "00010", "00100", "01000", "10011", "00011"],
            "[": ["01110", "01000", "01000", "01000", "01000", "01000", "01110"],
            "]": ["01110", "00010", "00010", "00010", "00010", "00010", "01110"],
            "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
            "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
            "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
            "D": ["11100", "10010", "10001", "10001", "10001", "10010", "11100"],
            "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
            "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
            "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
            "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
            "I": ["01110", "00100", "00100", "00100", "00100", "00100", "01110"],
            "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
            "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
            "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
            "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
            "N": ["10001", "10001", "11001", "10101", "10011", "10001", "10001"],
            "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
            "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
            "Q": ["01110", "10001", "10001", "10001", "10101", "10010", "01101"],
            "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
            "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
            "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
            "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
            "V": ["10001", "10001", "10001", "10001", "10001", "01010", "00100"],
            "W": ["10001", "10001", "10001", "10101", "10101", "10101", "01010"],
            "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
            "Y": ["10001", "10001", "10001", "01010", "00100", "00100", "00100"],
            "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
            "a": ["00000", "00000", "01110", "00001", "01111", "10001", "01111"],
            "b": ["10000", "10000", "10110", "11001", "10001", "10001", "11110"],
            "c": ["00000", "00000", "01110", "10000", "10000", "10001", "01110"],
            "d": ["00001", "00001", "01101", "10011", "10001", "10001", "01111"],
            "e": ["00000", "00000", "01110", "10001", "11111", "10000", "01110"],
            "f": ["00110", "01001", "01000", "11100", "01000", "01000", "01000"],
            "g": ["00000", "01111", "10001", "10001", "01111", "00001", "01110"],
            "h": ["10000", "10000", "10110", "11001", "10001", "10001", "10001"],
            "i": ["00100", "00000", "01100", "00100", "00100", "00100", "01110"],
            "j": ["00010", "00000", "00110", "00010", "00010", "10010", "01100"],
            "k": ["10000", "10000", "10010", "10100", "11000", "10100", "10010"],
            "l": ["01100", "00100", "00100", "00100", "00100", "00100", "01110"],
            "m": ["00000", "00000", "11010", "10101", "10101", "10001", "10001"],
            "n": ["00000", "00000", "10110", "11001", "10001", "10001", "10001"],
            "o": ["00000", "00000", "01110", "10001", "10001", "10001", "01110"],
            "p": ["00000", "00000", "11110", "10001", "11110", "10000", "10000"],
            "q": ["00000", "00000", "01101", "10011", "01111", "00001", "00001"],
            "r": ["00000", "00000", "10110", "11001", "10000", "10000", "10000"],
            "s": ["00000", "00000", "01110", "10000", "01110", "00001", "11110"],
            "t": ["01000", "01000", "11100", "01000", "01000", "01001", "00110"],
            "u": ["00000", "00000", "10001", "10001", "10001", "10011", "01101"],
            "v": ["00000", "00000", "10001", "10001", "10001", "01010", "00100"],
            "w": ["00000", "00000", "10001", "10001", "10101", "10101", "01010"],
            "x": ["00000", "00000", "10001", "01010", "00100", "01010", "10001"],
            "y": ["00000", "00000", "10001", "10001", "01111", "00001", "01110"],
            "z": ["00000", "00000", "11111", "00010", "00100", "01000", "11111"],
        ]
    }
}

/// `value` limited to `low…high` (`low` when the range is empty).
private func linePlotClamp(_ value: Int, _ low: Int, _ high: Int) -> Int {
    Swift.max(low, Swift.min(value, high))
}
