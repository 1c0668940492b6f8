import XCTest
import GlowCore
import GlowCPU
@testable import GlowGPU

/// Operations run as data (`ElementOp`): every one has a kernel in kernels.cl whose last
/// argument counts the work-items, and arguments of the wrong count, kind or extent are named
/// errors on every backend, never a write past a buffer.
final class ElementOpTests: XCTestCase {
    func testEveryOperationHasItsKernel() {
        for op in ElementOp.allCases {
            let kinds = KernelSignatures.all[op.kernelName]
            XCTAssertNotNil(kinds, "\(op.name): kernels.cl has no kernel \(op.kernelName)")
            XCTAssertEqual(kinds?.last, .int, "\(op.name): the kernel's last argument counts the work-items")
        }
        XCTAssertEqual(ElementOp.flipTaps3x3.name, "flipTaps3x3")
    }

    func testBadArgumentsAreNamedErrors() throws {
        var backends: [any Backend] = [TestBackends.cpu]
        if let cl = try TestBackends.openCL() { backends.append(cl) }
        for b in backends { try check(b) }
    }

    private func check<B: Backend>(_ b: B) throws {
        let x = try b.makeBuffer([1, 2, 3, 4]), y = try b.zeros(4)
        // Past the buffer, through the typed entry point: refused before it runs.
        XCTAssertThrowsError(try b.scale(x, xOffset: 2, alpha: 1, beta: 0, y: y, yOffset: 0, count: 3)) {
            XCTAssertTrue("\($0)".contains("scale of 3 floats at 2 past a buffer of 4"), "\(b.name): \($0)")
        }
        XCTAssertThrowsError(try b.flipTaps3x3(x, y, outChannels: 1, inChannels: 1, toTaps: true)) {
            XCTAssertTrue("\($0)".contains("flipTaps3x3 of 9 floats"), "\(b.name): \($0)")
        }
        // A float where an int goes, and one argument short, through `run` itself.
        XCTAssertThrowsError(try b.run(.scale, [.buffer(x), .float(0), .float(1), .float(0), .buffer(y), .int(0), .int(4)]))
        XCTAssertThrowsError(try b.run(.scale, [.buffer(x), .int(0), .float(1), .float(0), .buffer(y), .int(4)]))
        XCTAssertEqual(try b.download(y), [0, 0, 0, 0], "\(b.name): a refused operation wrote nothing")
        try b.scale(x, xOffset: 1, alpha: 2, beta: 1, y: y, yOffset: 0, count: 3)
        XCTAssertEqual(try b.download(y), [5, 7, 9, 0], b.name)
    }
}
