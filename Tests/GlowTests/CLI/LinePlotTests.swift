import Foundation
import XCTest
@testable import GlowCore
@testable import GlowGPU

final class LinePlotTests: XCTestCase {
    private typealias RGB = (UInt8, UInt8, UInt8)

    private func pixel(_ image: (width: Int, height: Int, pixels: [UInt8]), _ x: Int, _ y: Int) -> RGB {
        let i = (y * image.width + x) * 3
        return (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
    }

    /// Whether the 3×3 neighbourhood of (x, y) holds colour `c`.
    private func near(_ image: (width: Int, height: Int, pixels: [UInt8]), _ x: Int, _ y: Int, _ c: RGB) -> Bool {
        for dy in -1 ... 1 {
            for dx in -1 ... 1 {
                let (px, py) = (x + dx, y + dy)
                guard px >= 0, py >= 0, px < image.width, py < image.height else { continue }
                let p = pixel(image, px, py)
                if p == c { return true }
            }
        }
        return false
    }

    private func inkCount(_ canvas: LinePlot.Canvas) -> Int {
        stride(from: 0, to: canvas.pixels.count, by: 3).filter {
            canvas.pixels[$0] != 255 || canvas.pixels[$0 + 1] != 255 || canvas.pixels[$0 + 2] != 255
        }.count
    }

    func testRenderSizeAndWhiteBackground() {
        var plot = LinePlot(title: "Glow on MNIST", xLabel: "step", yLabel: "bits/dim",
                            series: [.init(name: "train", x: [0, 100, 200], y: [3.5, 2.1, 1.4])])
        let image = plot.render()
        XCTAssertEqual(image.width, 640)
        XCTAssertEqual(image.height, 400)
        XCTAssertEqual(image.pixels.count, 640 * 400 * 3)
        for (x, y) in [(0, 0), (639, 0), (0, 399), (639, 399)] {
            XCTAssertTrue(pixel(image, x, y) == (255, 255, 255), "corner \(x),\(y) not white")
        }
        plot.width = 300
        plot.height = 200
        XCTAssertEqual(plot.render().pixels.count, 300 * 200 * 3)
        // The frame: the plot area's corner is black.
        let f = plot.frame()
        XCTAssertTrue(pixel(plot.render(), f.left, f.bottom) == (0, 0, 0))
    }

    func testStraightLinePixels() {
        let red: RGB = (200, 0, 0)
        let xs = (0 ... 10).map(Double.init)
        let plot = LinePlot(title: "line", xLabel: "x", yLabel: "y",
                            series: [.init(name: "y = 2x + 1", x: xs, y: xs.map { 2 * $0 + 1 }, color: red)])
        let image = plot.render()
        // The axis mapping: data range 0…10 padded by 5% to -0.5…10.5 over the plot width.
        let f = plot.frame()
        XCTAssertEqual(f.xLo, -0.5, accuracy: 1e-12)
        XCTAssertEqual(f.xHi, 10.5, accuracy: 1e-12)
        XCTAssertEqual(f.yLo, 0, accuracy: 1e-12)
        XCTAssertEqual(f.yHi, 22, accuracy: 1e-12)
        let start = plot.pixel(forX: 0, y: 1)
        XCTAssertEqual(start.x, f.left + Int((0.5 / 11 * Double(f.right - f.left)).rounded()))
        XCTAssertEqual(start.y, f.bottom - Int((1.0 / 22 * Double(f.bottom - f.top)).rounded()))
        for x in [2.5, 3.3, 5.0, 6.75, 8.1] {
            let p = plot.pixel(forX: x, y: 2 * x + 1)
            XCTAssertTrue(near(image, p.x, p.y, red), "no line near x=\(x) at pixel \(p)")
        }
        // Well off the line there is no red.
        for (x, y) in [(2.0, 15.0), (8.0, 5.0)] {
            let p = plot.pixel(forX: x, y: y)
            XCTAssertFalse(near(image, p.x, p.y, red), "unexpected line pixel at \(p)")
        }
        // The legend avoids the diagonal: top-left or bottom-right corner, with the swatch.
        let legend = plot.legendLayout(frame: f)!
        XCTAssertTrue(legend.rect.minX < (f.left + f.right) / 2 ? legend.rect.minY < (f.top + f.bottom) / 2
                                                                 : legend.rect.minY > (f.top + f.bottom) / 2)
        XCTAssertTrue(pixel(image, legend.rect.minX + 8, legend.rect.minY + 6) == red)
    }

    func testNiceTicks() {
        func check(_ lo: Double, _ hi: Double, _ count: Int, file: StaticString = #filePath, line: UInt = #line) {
            let t = LinePlot.niceTicks(min: lo, max: hi, count: count)
            XCTAssertGreaterThanOrEqual(t.count, 2, file: file, line: line)
            let step = t[1] - t[0]
            for i in 1 ..< t.count {
                XCTAssertEqual(t[i] - t[i - 1], step, accuracy: step * 1e-9, "uneven", file: file, line: line)
            }
            let mantissa = step / pow(10, log10(step).rounded(.down))
            XCTAssertTrue([1.0, 2, 5, 10].contains { abs(mantissa - $0) < 1e-9 }, "step \(step)", file: file, line: line)
            // Inside the range and covering it to within a step at each end.
            XCTAssertGreaterThanOrEqual(t.first!, lo - step * 1e-9, file: file, line: line)
            XCTAssertLessThan(t.first! - step, lo, file: file, line: line)
            XCTAssertLessThanOrEqual(t.last!, hi + step * 1e-9, file: file, line: line)
            XCTAssertGreaterThan(t.last! + step, hi, file: file, line: line)
            // About `count` intervals.
            XCTAssertLessThanOrEqual(t.count - 1, 2 * count + 1, file: file, line: line)
            XCTAssertGreaterThanOrEqual(t.count - 1, count / 2, file: file, line: line)
        }
        let t = LinePlot.niceTicks(min: 0, max: 1000, count: 5)
        XCTAssertEqual(t.count, 6)
        for (a, b) in zip(t, [0.0, 200, 400, 600, 800, 1000]) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        let u = LinePlot.niceTicks(min: 0, max: 1, count: 10)
        for (a, b) in zip(u, (0 ... 10).map { Double($0) / 10 }) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(u.count, 11)
        let v = LinePlot.niceTicks(min: 3.13, max: 3.58, count: 4)  // step 0.1
        XCTAssertEqual(v.count, 4)
        for (a, b) in zip(v, [3.2, 3.3, 3.4, 3.5]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        for (lo, hi, n) in [(0.0, 1000.0, 5), (-3.7, 12.2, 6), (3.1, 3.6, 4), (0.001, 0.0023, 5),
                            (-50.0, 10_050.0, 8), (1e6, 5e6, 4), (-1.0, 1.0, 2), (2.004, 2.005, 3)] {
            check(lo, hi, n)
        }
        XCTAssertEqual(LinePlot.niceTicks(min: 5, max: 5, count: 5), [5])
        XCTAssertEqual(LinePlot.niceTicks(min: 0, max: .nan, count: 5), [])
        XCTAssertEqual(LinePlot.niceStep(span: 1000, count: 5), 200)
        XCTAssertEqual(LinePlot.niceStep(span: 100, count: 4), 20)  // raw 25 → 2×10
        XCTAssertEqual(LinePlot.niceStep(span: 40, count: 1), 50)   // raw 40 → 5×10
    }

    func testTickLabels() {
        XCTAssertEqual(LinePlot.tickLabels([0, 500, 1000, 1500, 2000], step: 500), ["0", "500", "1000", "1500", "2000"])
        XCTAssertEqual(LinePlot.tickLabels([0, 0.05, 0.1, 0.15000000000000002], step: 0.05), ["0", "0.05", "0.1", "0.15"])
        XCTAssertEqual(LinePlot.tickLabels([1, 1.25, 1.5], step: 0.25), ["1", "1.25", "1.5"])
        XCTAssertEqual(LinePlot.tickLabels([-0.2, -0.0, 0.2], step: 0.2), ["-0.2", "0", "0.2"])
        XCTAssertEqual(LinePlot.tickLabels([1.2e6, 1.4e6, 2e6], step: 2e5), ["1.2e6", "1.4e6", "2e6"])
        XCTAssertEqual(LinePlot.tickLabels([0, 2e-5, 4e-5], step: 2e-5), ["0", "2e-5", "4e-5"])
        // Every character a label can use is in the font.
        for ch in "0123456789.-+e" { XCTAssertTrue(LinePlot.Font.covers(ch), "\(ch)") }
    }

    func testTextRendering() {
        var canvas = LinePlot.Canvas(width: 20, height: 20)
        canvas.text("8", x: 1, y: 1, scale: 1, color: (0, 0, 0))
        XCTAssertEqual(inkCount(canvas), 17)  // the on-bits of the "8" glyph
        XCTAssertTrue(canvas.color(x: 2, y: 1) == (0, 0, 0))  // top bar, column 1
        XCTAssertTrue(canvas.color(x: 1, y: 1) == (255, 255, 255))  // rounded corner
        var big = LinePlot.Canvas(width: 20, height: 20)
        big.text("8", x: 0, y: 0, scale: 2, color: (0, 0, 0))
        XCTAssertEqual(inkCount(big), 68)
        XCTAssertEqual(LinePlot.Font.width("8", scale: 1), 5)
        XCTAssertEqual(LinePlot.Font.width("bits/dim", scale: 2), (8 * 6 - 1) * 2)
        // Vertical text has the same ink, turned.
        var turned = LinePlot.Canvas(width: 20, height: 20)
        turned.text("8", x: 1, y: 1, scale: 1, color: (0, 0, 0), vertical: true)
        XCTAssertEqual(inkCount(turned), 17)
        // Unknown characters draw as "?" and text off the canvas is dropped, without crashing.
        var odd = LinePlot.Canvas(width: 30, height: 10)
        odd.text("☃é\u{1F600}", x: -4, y: 5, scale: 1, color: (0, 0, 0))
        odd.text("Ab", x: 25, y: -3, scale: 3, color: (0, 0, 0))
        XCTAssertGreaterThan(inkCount(odd), 0)
        // Every glyph required of the font is present.
        let required = "0123456789.-+e :/()=,ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        for ch in required { XCTAssertTrue(LinePlot.Font.covers(ch), "missing glyph \(ch)") }
        XCTAssertFalse(LinePlot.Font.covers("☃"))
    }

    func testWriteReadRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lineplot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bpd.png").path
        let steps = (0 ..< 50).map { Double($0 * 100) }
        let plot = LinePlot(title: "Glow: bits per dimension", xLabel: "step", yLabel: "bits/dim",
                            series: [.init(name: "train", x: steps, y: steps.map { 1.2 + 3 * exp(-$0 / 1000) }),
                                     .init(name: "test", x: steps, y: steps.map { 1.3 + 3 * exp(-$0 / 900) },
                                           color: LinePlot.palette[1])],
                            width: 320, height: 240)
        try plot.write(path: path)
        let image = try PNGImage.read(path: path)
        let rendered = plot.render()
        XCTAssertEqual(image.width, 320)
        XCTAssertEqual(image.height, 240)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image.pixels, rendered.pixels)
        var bad = plot
        bad.width = 0
        XCTAssertThrowsError(try bad.write(path: path)) { XCTAssertTrue($0 is DataError) }
    }

    func testNonFiniteValuesBreakTheLine() {
        let blue: RGB = (0, 0, 220)
        let plot = LinePlot(title: "", xLabel: "", yLabel: "",
                            series: [.init(name: "", points: [(0, 0), (1, .nan), (2, 2), (3, .infinity), (4, 0),
                                                              (5, 1), (.nan, 3), (6, 2)], color: blue)])
        let image = plot.render()
        XCTAssertEqual(image.pixels.count, 640 * 400 * 3)
        let f = plot.frame()
        XCTAssertEqual(f.yLo, -0.1, accuracy: 1e-12)  // range from finite values only
        XCTAssertEqual(f.yHi, 2.1, accuracy: 1e-12)
        // Isolated points are dots; no line joins them across the gaps.
        for (x, y) in [(0.0, 0.0), (2.0, 2.0)] {
            let p = plot.pixel(forX: x, y: y)
            XCTAssertTrue(pixel(image, p.x, p.y) == blue, "no dot at \(x),\(y)")
        }
        for (x, y) in [(1.0, 1.0), (3.0, 1.0), (2.5, 1.0)] {
            let p = plot.pixel(forX: x, y: y)
            XCTAssertFalse(near(image, p.x, p.y, blue), "gap bridged near \(x),\(y)")
        }
        // The run (4,0)-(5,1) is a line; (6,2) is a dot after the NaN x.
        let mid = plot.pixel(forX: 4.5, y: 0.5)
        XCTAssertTrue(near(image, mid.x, mid.y, blue))
        let between = plot.pixel(forX: 5.5, y: 1.5)
        XCTAssertFalse(near(image, between.x, between.y, blue))
    }

    func testEmptyPlots() {
        for series in [[], [LinePlot.Series(name: "empty", points: [])],
                       [LinePlot.Series(name: "nan", points: [(0, .nan), (.infinity, 1)])]] {
            let plot = LinePlot(title: "nothing", xLabel: "step", yLabel: "bpd", series: series, width: 200, height: 150)
            let image = plot.render()
            XCTAssertEqual(image.pixels.count, 200 * 150 * 3)
            let f = plot.frame()
            XCTAssertFalse(f.hasData)
            XCTAssertEqual(f.xLo, 0)
            XCTAssertEqual(f.xHi, 1)
            XCTAssertFalse(f.xTicks.isEmpty)
            XCTAssertTrue(pixel(image, f.left, f.bottom) == (0, 0, 0))  // axes drawn
            // "no data" in grey around the middle of the plot area.
            let (cx, cy) = ((f.left + f.right) / 2, (f.top + f.bottom) / 2)
            var grey = 0
            for y in cy - 10 ... cy + 2 { for x in cx - 40 ... cx + 40 where pixel(image, x, y) == (128, 128, 128) { grey += 1 } }
            XCTAssertGreaterThan(grey, 20)
        }
        // A single point: a dot, with the ±10% range around its value.
        let one = LinePlot(title: "", xLabel: "", yLabel: "",
                           series: [.init(name: "", points: [(10, 5)], color: (9, 9, 9))])
        let f = one.frame()
        XCTAssertEqual(f.yLo, 4.5, accuracy: 1e-12)
        XCTAssertEqual(f.yHi, 5.5, accuracy: 1e-12)
        XCTAssertEqual(f.xLo, 9, accuracy: 1e-12)
        let p = one.pixel(forX: 10, y: 5)
        XCTAssertTrue(pixel(one.render(), p.x, p.y) == (9, 9, 9))
        let zero = LinePlot(title: "", xLabel: "", yLabel: "", series: [.init(name: "", points: [(0, 0)])]).frame()
        XCTAssertEqual(zero.yLo, -1)
        XCTAssertEqual(zero.yHi, 1)
        // Degenerate sizes do not crash.
        var tiny = one
        tiny.width = 8
        tiny.height = 5
        XCTAssertEqual(tiny.render().pixels.count, 8 * 5 * 3)
        tiny.width = 0
        XCTAssertEqual(tiny.render().pixels.count, 0)
    }

    func testFixedRangeClipsLines() {
        let green: RGB = (0, 150, 0)
        var plot = LinePlot(title: "", xLabel: "", yLabel: "",
                            series: [.init(name: "", points: [(0, -10), (10, 10)], color: green)])
        plot.yRange = -1 ... 1
        let image = plot.render()
        let f = plot.frame()
        // The line crosses the plot area's middle; nothing is drawn outside the plot area.
        let c = plot.pixel(forX: 5, y: 0)
        XCTAssertTrue(near(image, c.x, c.y, green))
        for y in 0 ..< image.height {
            for x in 0 ..< image.width where pixel(image, x, y) == green {
                XCTAssertTrue(x > f.left && x < f.right && y > f.top && y < f.bottom, "line outside at \(x),\(y)")
            }
        }
    }
}
