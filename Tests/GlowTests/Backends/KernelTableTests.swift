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

    /// The argument kinds come from kernels.cl's declarations: the enum names exactly the
    /// source's kernels, every parameter has a kind the launches can pass, and the parser reads
    /// attributes, line breaks and qualifiers.
    func testSignaturesAreReadFromTheSource() {
        XCTAssertEqual(Set(KernelSignatures.all.keys), Set(Kernel.allCases.map(\.name)))
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
        for k in Kernel.allCases {
            XCTAssertFalse(k.arguments.isEmpty, k.name)
        }
    }
}
