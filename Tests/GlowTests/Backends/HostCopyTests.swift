import XCTest
@testable import GlowCore
import GlowCPU
import GlowGPU

/// `download(…, into:)` and `upload(from:…)`, which stage gradients for the MPI all-reduce
/// without allocating arrays, on every backend.
final class HostCopyTests: XCTestCase {
    func testPointerCopiesMatchArrayCopies() throws {
        for backend in try TestBackends.all() { try check(backend) }
    }

    func check<B: Backend>(_ backend: B) throws {
        let values = randomValues(37, stream: 91)
        let buffer = try backend.makeBuffer(values)
        var host = [Float](repeating: .nan, count: 40)
        try host.withUnsafeMutableBufferPointer { try backend.download(buffer, offset: 5, count: 30, into: $0.baseAddress! + 2) }
        XCTAssertEqual(Array(host[2..<32]), Array(values[5..<35]), backend.name)
        XCTAssertTrue(host[0].isNaN && host[32].isNaN, "\(backend.name): wrote outside the range")
        let fresh = (0..<11).map { Float($0) - 3.5 }
        try fresh.withUnsafeBufferPointer { try backend.upload(from: $0.baseAddress! + 1, count: 9, to: buffer, offset: 20) }
        var expected = values
        expected.replaceSubrange(20..<29, with: fresh[1..<10])
        XCTAssertEqual(try backend.download(buffer), expected, backend.name)
    }
}
