import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// `glow-gpu selftest`'s checking logic: it passes on the CPU and OpenCL backends, fails
/// (on the right rows) when one operation is wrong, and has a row for every operation of
/// the `Backend` protocol.
final class SelfTestTests: XCTestCase {
    func testPassesOnCPU() throws {
        let report = SelfTest.run(subject: TestBackends.cpu, reference: CPUBackend())
        XCTAssert(report.ok, report.table())
        XCTAssertGreaterThan(report.rows.count, 80)
        XCTAssert(report.rows.contains { $0.op == "model.gradients" })
    }

    func testPassesOnOpenCL() throws {
        guard let cl = try TestBackends.openCL() else { throw XCTSkip("no OpenCL device") }
        let report = SelfTest.run(subject: cl, reference: TestBackends.cpu)
        XCTAssert(report.ok, report.table())
        // Different kernels from the CPU's: at least the GEMM rows differ a little, and no row is NaN.
        XCTAssert(report.rows.allSatisfy { $0.maxRelativeError.isFinite })
        XCTAssert(report.rows.contains { $0.op == "gemm" && $0.maxRelativeError > 0 })
    }

    /// Each injected fault fails exactly the rows of its operation (and the model rows
    /// that use it), and nothing else.
    func testFailsWhenAnOperationIsWrong() throws {
        let cpu = TestBackends.cpu
        let cases: [(FaultyBackend<CPUBackend>.Fault, String, Bool)] = [
            (.rowSumsScaled, "rowSums", true), (.gemmSkipsLastElement, "gemm", true),
            (.couplingBackwardIgnoresLogdet, "affineCouplingBackward", true), (.squeezeSwapsTwo, "squeeze", true),
        ]
        for (fault, op, breaksModel) in cases {
            let report = SelfTest.run(subject: FaultyBackend(cpu, fault: fault), reference: cpu)
            XCTAssertFalse(report.ok, "\(fault)")
            let failedOps = Set(report.failures.map(\.op))
            XCTAssertEqual(failedOps.filter { !$0.hasPrefix("model.") }, [op], "\(fault): failed rows \(failedOps)")
            XCTAssertEqual(failedOps.contains { $0.hasPrefix("model.") }, breaksModel, "\(fault): model rows \(failedOps)")
        }
        // The scaled sums are off by 1e-3: the row reports that size, not infinity.
        let r = SelfTest.run(subject: FaultyBackend(cpu, fault: .rowSumsScaled), reference: cpu, model: false)
        let e = r.failures.first { $0.op == "rowSums" }!.maxRelativeError
        XCTAssertEqual(e, 1e-3, accuracy: 1e-4)
        // An unwritten GEMM element stays NaN from the poisoning (β = 0) or keeps C's old
        // value (β ≠ 0): both fail.
        let g = SelfTest.run(subject: FaultyBackend(cpu, fault: .gemmSkipsLastElement), reference: cpu, model: false)
        XCTAssert(g.rows.filter { $0.op == "gemm" }.allSatisfy { !$0.ok })
    }

    /// The JSON and table forms carry every row; a non-finite error is JSON null.
    func testReportFormats() throws {
        let rows = [SelfTestRow(op: "gemm", shape: "1×1×1 NN β=0", maxRelativeError: 0, tolerance: 1e-5),
                    SelfTestRow(op: "rowSums", shape: "3×\"7\"", maxRelativeError: .infinity, tolerance: 1e-5, failure: "boom")]
        let report = SelfTestReport(device: "d", reference: "cpu", rows: rows, seconds: 0.5)
        let obj = try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as! [String: Any]
        XCTAssertEqual(obj["ok"] as? Bool, false)
        XCTAssertEqual(obj["failed"] as? Int, 1)
        let results = obj["results"] as! [[String: Any]]
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results[1]["shape"] as? String, "3×\"7\"")
        XCTAssert(results[1]["max_rel_err"] is NSNull)
        XCTAssertEqual(results[1]["error"] as? String, "boom")
        XCTAssertEqual(results[0]["ok"] as? Bool, true)
        let table = report.table()
        XCTAssert(table.contains("FAIL  (boom)"), table)
        XCTAssert(table.hasSuffix("2 rows, 1 failed, 0.5 s: FAIL"), table)
    }

    /// The requirements of `Backend` that are not operations of their own: buffer plumbing
    /// every row uses, the scratch-size query every conv3x3 row uses, properties, and
    /// recording (CUDAEmulatorTests replays whole training steps).
    static let plumbing: Set<BackendOperation> = [.name, .allocate, .count, .upload, .download, .downloadInto, .uploadFrom,
                                                  .synchronize, .conv3x3ScratchCount, .viewAlignment, .counters, .record,
                                                  .recordsWork, .replay]

    /// Every operation of the `Backend` protocol (`BackendOperation`, which
    /// `ForwardingBackendTests` ties to the protocol's requirements) is the `operation` of
    /// some self-test row, except the plumbing. When the protocol gains an operation, add an
    /// `OperationCheck` for it to `SelfTest.operationChecks`.
    func testEveryBackendOperationHasARow() throws {
        let covered = Set(SelfTest.operationChecks.map(\.operation))
        let missing = Set(BackendOperation.allCases).subtracting(Self.plumbing).subtracting(covered)
        XCTAssertEqual(missing.map(\.rawValue).sorted(), [],
                       "Backend operations without a selftest row: add an OperationCheck to SelfTest.operationChecks")
        XCTAssertEqual(covered.intersection(Self.plumbing), [], "a row for plumbing: take it out of the plumbing list")
        XCTAssertEqual(covered.count + Self.plumbing.count, BackendOperation.allCases.count)
        let elementRows = Set(SelfTest.operationChecks.compactMap(\.elementOp))
        XCTAssertEqual(Set(ElementOp.allCases).subtracting(elementRows).map(\.name).sorted(), [],
                       "ElementOps without a selftest row: add their case to ElementOpCheck (ElementOpChecks.swift)")
        for check in SelfTest.operationChecks {
            XCTAssertEqual(check.elementOp != nil, check.operation == .run, "\(check.op): a run row names its ElementOp")
        }
    }

    /// Each row calls the operation it names (through a backend that notes its calls), so a
    /// row cannot claim an operation it does not run.
    func testEveryRowCallsItsOperation() throws {
        let recorder = RecordingBackend(TestBackends.cpu)
        let checks = SelfTest.operationChecks + SelfTest.extendedChecks + SelfTest.reducedPrecisionChecks
        for check in checks {
            recorder.reset()
            _ = try check.outputs(on: recorder)
            XCTAssert(recorder.calls.contains(check.operation), "\(check.op) \(check.shape): calls \(Set(recorder.calls))")
            if let op = check.elementOp {
                XCTAssert(recorder.elementCalls.contains(op), "\(check.op) \(check.shape): runs \(recorder.elementCalls)")
            }
        }
    }
}

extension CLITests {
    /// `glow-gpu selftest --device cpu --json`: one JSON object, every row ok, exit 0;
    /// `--device gpu` without a GPU is a named error, not a fallback to PoCL's CPU device.
    func testSelftestCommand() throws {
        let r = try run(["selftest", "--device", "cpu", "--json", "--no-model"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(obj?["ok"] as? Bool, true, r.stdout)
        XCTAssertEqual((obj?["results"] as? [Any])?.count, SelfTest.operationChecks.count)
        let all = (try? OpenCLDeviceInfo.all()) ?? []
        if !all.contains(where: \.isAccelerator) {
            let g = try run(["selftest", "--device", "gpu"])
            XCTAssertNotEqual(g.status, 0)
            XCTAssert(g.stderr.contains("no OpenCL GPU"), g.stderr)
        }
    }
}

/// `selftest --precision tf32`'s rows: TF32's componentwise bound, which TF32 rounding
/// passes and bfloat16's coarser rounding or a wrong result fails.
final class ReducedPrecisionSelfTestTests: XCTestCase {
    func testToleranceFromMantissaAndReductionLength() {
        let e = 0x1p-10
        XCTAssertEqual(TF32Tolerance.componentwise(terms: 1), 2 * e + e * e + 3 * 0x1p-24, accuracy: 1e-9)
        XCTAssertEqual(TF32Tolerance.componentwise(terms: 4608), 2.7795e-3, accuracy: 1e-7, "a 3×3 convolution over 512 channels")
        XCTAssertLessThan(TF32Tolerance.componentwise(terms: 300), TF32Tolerance.componentwise(terms: 1030))
        XCTAssertEqual(TF32Tolerance.gamma(1 << 10), 0x1p-14 / (1 - 0x1p-14), accuracy: 1e-15)
    }

    func testComponentwiseMeasure() {
        let m = ErrorMeasure.componentwise
        XCTAssertEqual(m.error([1.5, 2], [1, 2], scale: [10, 3]), 0.05, accuracy: 1e-12)
        XCTAssertEqual(m.error([1, 2], [1, 2], scale: [0, 0]), 0, "scale 0 and exact")
        XCTAssertEqual(m.error([1, 2.5], [1, 2], scale: [1, 0]), .infinity, "scale 0 must be exact")
        XCTAssertEqual(m.error([.nan, 1], [.nan, 1], scale: [.nan, 1]), 0)
        XCTAssertEqual(m.error([.nan], [1], scale: [1]), .infinity, "an unwritten element")
        XCTAssertEqual(m.error([1], [1], scale: []), .infinity, "missing scales")
        XCTAssertEqual(m.error([1.5, 2], [1, 4]), 0.5, "without scales: normwise")
    }

    /// A CPU backend that rounds its marked GEMMs' inputs to TF32 passes every TF32 row and
    /// the model rows with TF32's tolerances; at bfloat16's 7 bits the short GEMM rows fail;
    /// without rounding (FP32) everything passes, and so do the ordinary rows either way.
    func testTF32RowsPassTF32AndFailCoarserRounding() throws {
        let cpu = TestBackends.cpu
        let checks = SelfTest.operationChecks(precision: .tf32)
        XCTAssertEqual(checks.count, SelfTest.operationChecks.count + SelfTest.reducedPrecisionChecks.count)
        let spy = PrecisionSpy()
        spy.mantissaBits = 10
        let tf32 = SelfTest.run(subject: spy, reference: cpu, precision: .tf32)
        XCTAssert(tf32.ok, tf32.table())
        let rows = tf32.rows.filter { $0.shape.contains(" tf32 n=") }
        XCTAssertEqual(rows.count, SelfTest.reducedPrecisionChecks.count)
        XCTAssert(rows.allSatisfy { $0.maxRelativeError > 0 }, "TF32 rounding shows in every row:\n\(tf32.table())")
        // The worst row is within a factor of 4 of its bound (round to nearest: half of it).
        XCTAssertGreaterThan(rows.map { $0.maxRelativeError / $0.tolerance }.max() ?? 0, 0.1, tf32.table())
        XCTAssert(tf32.rows.contains { $0.op == "model.gradients" && $0.shape.hasSuffix("tf32") && $0.ok })
        XCTAssertFalse(tf32.rows.contains { $0.op == "tf32.routing" }, "only a CUDA backend counts its TF32 calls")

        spy.mantissaBits = 7
        let bf16 = SelfTest.run(subject: spy, reference: cpu, checks: SelfTest.reducedPrecisionChecks, model: false, precision: .tf32)
        let failed = bf16.failures.filter { $0.op == "gemm" }
        XCTAssertFalse(failed.isEmpty, bf16.table())
        XCTAssert(failed.contains { $0.shape.hasPrefix("7×5×3") }, bf16.table())

        spy.mantissaBits = nil
        XCTAssert(SelfTest.run(subject: spy, reference: cpu, checks: checks, model: false, precision: .tf32).ok)
        // A wrong GEMM fails the TF32 rows too.
        let faulty = SelfTest.run(subject: FaultyBackend(cpu, fault: .gemmSkipsLastElement), reference: cpu,
                                  checks: SelfTest.reducedPrecisionChecks, model: false, precision: .tf32)
        XCTAssert(faulty.rows.filter { $0.op == "gemm" }.allSatisfy { !$0.ok }, faulty.table())
    }
}
