import XCTest
@testable import GlowGPU
import Kernels

/// The checked launch table: a launch whose arguments differ from kernels.cl's declaration
/// is refused before it reaches a device, and the table matches the compiled program.
final class KernelTableTests: XCTestCase {
    func testWrongArgumentsAreRefused() throws {
        let args: [OpArgument<Int>] = [.buffer(0), .int(0), .float(1), .int(4)]
        XCTAssertNoThrow(try Kernel.fillValue.check(args))
        // Two arguments swapped, one missing, an int past 32 bits.
        XCTAssertThrowsError(try Kernel.fillValue.check([.buffer(0), .float(1), .int(0), .int(4)] as [OpArgument<Int>]))
        XCTAssertThrowsError(try Kernel.fillValue.check([.buffer(0), .int(0), .float(1)] as [OpArgument<Int>]))
        XCTAssertThrowsError(try Kernel.fillValue.check([.buffer(0), .int(1 << 40), .float(1), .int(4)] as [OpArgument<Int>])) {
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

    /// The kernels and their argument kinds come from kernels.cl's declarations: every
    /// `__kernel` of the source is read (so every one is built), every parameter has a kind the
    /// launches can pass, and the parser reads attributes, line breaks and qualifiers.
    func testSignaturesAreReadFromTheSource() {
        let source = String(cString: glow_kernels_source_ptr())
        XCTAssertEqual(Kernel.all.count, source.components(separatedBy: "__kernel ").count - 1)
        XCTAssertThrowsError(try Kernel(named: "no_such_kernel").check([OpArgument<Int>.int(1)])) {
            XCTAssertTrue("\($0)".contains("defines no kernel"), "\($0)")
        }
        XCTAssertEqual(Kernel.fillValue.arguments, [.buffer, .int, .float, .int])
        XCTAssertEqual(Kernel.philoxFill.arguments, [.buffer, .int, .int, .uint, .uint, .uint, .uint, .int, .float, .float])
        let text = """
            // a comment
            __kernel __attribute__((reqd_work_group_size(16, 16, 1)))
            void k(__global const float* restrict x,
                   int n, uint seed, const float a, __global float *y)
            { }
            __kernel void bad(double d, int n) { }
            """
        let parsed = KernelSignatures.parse(text)
        XCTAssertEqual(parsed["k"], [.buffer, .int, .uint, .float, .buffer])
        XCTAssertEqual(parsed["bad"], [.int], "a type the launches cannot pass is left out, so every launch of it fails the count")
        for k in Kernel.all {
            XCTAssertFalse(k.arguments.isEmpty, k.name)
        }
    }
}
