import XCTest
@testable import GlowGPU

/// The checked launch table: a launch whose arguments differ from kernels.cl's declaration
/// is refused before it reaches a device, and the table matches the compiled program.
final class KernelTableTests: XCTestCase {
    func testWrongArgumentsAreRefused() throws {
        let args: [KernelArgument<Int>] = [.buffer(0), .int(0), .float(1), .int(4)]
        XCTAssertNoThrow(try Kernel.fillValue.check(args))
        // Two arguments swapped, one missing, an int past 32 bits.
        XCTAssertThrowsError(try Kernel.fillValue.check([.buffer(0), .float(1), .int(0), .int(4)] as [KernelArgument<Int>]))
        XCTAssertThrowsError(try Kernel.fillValue.check([.buffer(0), .int(0), .float(1)] as [KernelArgument<Int>]))
        XCTAssertThrowsError(try Kernel.fillValue.check([.buffer(0), .int(1 << 40), .float(1), .int(4)] as [KernelArgument<Int>])) {
            XCTAssertTrue("\($0)".contains("32-bit"), "\($0)")
        }
    }

    /// Every kernel of the table exists in the program built for the device, with the
    /// argument kinds the table gives (OpenCLBackend's start-up check), and a launch counts.
    func testTableMatchesCompiledProgram() throws {
        guard let cl = try TestBackends.openCL() else { return }
        cl.counters.reset()
        let b = try cl.zeros(37)
        XCTAssertEqual(cl.counters.launches, 1)
        XCTAssertEqual(try cl.download(b), [Float](repeating: 0, count: 37))
        XCTAssertGreaterThanOrEqual(cl.counters.hostWaits, 1)
    }
}
