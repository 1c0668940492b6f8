import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Every backend operation on every backend this machine has (CPU; OpenCL when present,
/// PoCL in CI; CUDA on a GPU machine) through the self-test's own rows,
/// `SelfTest.operationChecks` and the test suite's `SelfTest.extendedChecks`: deterministic
/// random inputs at offsets, NaN-poisoned outputs, awkward shapes (the pattern of ggml's
/// test-backend-ops). Each row is compared with its check's Float64 reference, written out
/// from the operation's definition without any backend (every check but the training-step
/// and TF32 ones has one), and on every backend but the CPU with the CPU backend, as
/// `glow-gpu selftest` does. One harness: a new check added to the self-test runs here too.
final class BackendParityTests: XCTestCase {
    static let checks = SelfTest.operationChecks + SelfTest.extendedChecks
    /// Computed once for all backends.
    static let references = checks.map { $0.float64Reference() }

    /// Rows with a Float64 reference: at least this many (a check that lost its reference,
    /// or rows dropped from the lists, fail here rather than shrink the test).
    static let minimumFloat64Rows = 204

    func testEveryRowAgainstFloat64() throws {
        let expected = Self.references.compactMap { $0 }.count
        XCTAssertGreaterThanOrEqual(expected, Self.minimumFloat64Rows)
        // Every operation with a check in the parity lists has a Float64 reference for some row.
        let referenced = Set(zip(Self.checks, Self.references).compactMap { $1 == nil ? nil : $0.op })
        XCTAssertEqual(referenced.count, 24, "operations compared with Float64: \(referenced.sorted())")
        for b in try TestBackends.all() {
            let report = SelfTest.run(subject: b, float64: Self.checks, references: Self.references)
            XCTAssertEqual(report.rows.count, expected, b.name)
            XCTAssert(report.ok, "\(b.name) against Float64:\n" + report.failures.map(SelfTestReport.line).joined(separator: "\n"))
        }
    }

    func testEveryRowAgainstCPU() throws {
        let devices = try TestBackends.all().filter { !($0 is CPUBackend) }
        guard !devices.isEmpty else { throw XCTSkip("no backend but the CPU") }
        for b in devices {
            let report = SelfTest.run(subject: b, reference: TestBackends.cpu, checks: Self.checks, model: false)
            XCTAssertEqual(report.rows.count, Self.checks.count, b.name)
            XCTAssert(report.ok, "\(b.name) against the CPU:\n" + report.failures.map(SelfTestReport.line).joined(separator: "\n"))
        }
    }

    /// The Float64 references are what they claim: a wrong operation fails its rows against
    /// them (the CPU backend with one fault injected).
    func testFloat64RowsCatchAWrongOperation() throws {
        let report = SelfTest.run(subject: FaultyBackend(TestBackends.cpu, fault: .squeezeSwapsTwo), float64: Self.checks,
                                  references: Self.references)
        XCTAssertEqual(Set(report.failures.map(\.op)), ["squeeze"], report.table())
        XCTAssertEqual(report.failures.count, report.rows.filter { $0.op == "squeeze" }.count)
    }

    /// The GPU variant's 3×3 convolutions with an output at least as wide as the input are
    /// implicit GEMMs: they need no scratch.
    func testImplicitGEMMConvolutionsNeedNoScratch() throws {
        guard let cl = try TestBackends.openCL(), cl.tuning.variant == .gpu else { throw XCTSkip("not the OpenCL GPU variant") }
        let convolutions = Self.checks.compactMap { $0 as? Conv3x3Check }.filter { $0.outChannels >= $0.inChannels }
        XCTAssertGreaterThan(convolutions.count, 10)
        for c in convolutions {
            XCTAssertEqual(cl.conv3x3ScratchCount(inChannels: c.inChannels, outChannels: c.outChannels, images: c.images,
                                                  height: c.height, width: c.width), 0, c.shape)
        }
    }

    /// The generator itself: moments of 40000 normals and uniforms, and independence of streams.
    func testPhiloxStatistics() {
        let n = 40000
        let z = Philox.array(count: n, distribution: .normal, seed: 1, stream: 0).map(Double.init)
        let mean = z.reduce(0, +) / Double(n), varz = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        XCTAssertLessThan(abs(mean), 0.02)   // 4 standard errors
        XCTAssertLessThan(abs(varz - 1), 0.03)
        let u = Philox.array(count: n, distribution: .uniform(low: 0, high: 1), seed: 1, stream: 0).map(Double.init)
        XCTAssertLessThan(abs(u.reduce(0, +) / Double(n) - 0.5), 0.006)
        XCTAssert(u.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertNotEqual(Philox.array(count: 8, distribution: .normal, seed: 1, stream: 1),
                          Philox.array(count: 8, distribution: .normal, seed: 1, stream: 0))
    }
}
