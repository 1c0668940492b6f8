import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU
@_exported import GlowCoreTests

/// `TestPaths.root` is the root: tests that look for files under it (MNIST, scripts,
/// kernels.cl) would otherwise skip or fail for the wrong reason.
final class TestPathsTests: XCTestCase {
    func testRootHoldsThePackage() {
        XCTAssert(FileManager.default.fileExists(atPath: TestPaths.root.appendingPathComponent("Package.swift").path), TestPaths.root.path)
        XCTAssert(FileManager.default.fileExists(atPath: TestPaths.root.appendingPathComponent("Tests/GlowTests/Support").path))
    }
}

/// Backends under test: the CPU backend and, when an OpenCL device exists, the first one
/// (PoCL in CI). `GLOW_REQUIRE_OPENCL=1` turns a missing OpenCL device into a failure.
enum TestBackends {
    static let cpu = CPUBackend()
    nonisolated(unsafe) static var openCLResult: Result<OpenCLBackend?, Error> = {
        Result {
            let all = try OpenCLDeviceInfo.all()
            guard let d = all.first(where: { $0.isAccelerator }) ?? all.first else { return nil }
            return try OpenCLBackend(device: d)
        }
    }()

    static func openCL(file: StaticString = #filePath, line: UInt = #line) throws -> OpenCLBackend? {
        let b = try openCLResult.get()
        if b == nil && ProcessInfo.processInfo.environment["GLOW_REQUIRE_OPENCL"] == "1" {
            XCTFail("GLOW_REQUIRE_OPENCL=1 but no OpenCL device was found", file: file, line: line)
        }
        return b
    }

    /// The first CUDA device when CUDA is usable (a GPU machine with Swift), else nil.
    nonisolated(unsafe) static var cudaResult: Result<CUDABackend?, Error> = {
        Result {
            guard CUDADeviceInfo.unavailableReason() == nil else { return nil }
            return try CUDABackend(device: try CUDADeviceInfo.usable()[0])
        }
    }()

    /// The backends, as existentials; OpenCL and CUDA only when present.
    static func all() throws -> [any Backend] {
        var r: [any Backend] = [cpu]
        if let cl = try openCL() { r.append(cl) }
        if let cuda = try cudaResult.get() { r.append(cuda) }
        return r
    }
}

/// Deterministic test data: N(0, 1) or U(lo, hi) from Philox with a per-call stream.
func randomValues(_ count: Int, seed: UInt64 = 7, stream: UInt64, low: Float? = nil, high: Float? = nil) -> [Float] {
    if let low, let high { return Philox.array(count: count, distribution: .uniform(low: low, high: high), seed: seed, stream: stream) }
    return Philox.array(count: count, distribution: .normal, seed: seed, stream: stream)
}

/// Largest |a - b| / (|b| + floor) over the arrays; NaN or a size mismatch gives infinity.
func relativeError(_ a: [Float], _ b: [Double], floor: Double = 1e-3) -> Double {
    guard a.count == b.count else { return .infinity }
    var worst = 0.0
    for i in 0..<a.count {
        let x = Double(a[i])
        if !x.isFinite { return .infinity }
        worst = max(worst, abs(x - b[i]) / (abs(b[i]) + floor))
    }
    return worst
}

func relativeError(_ a: [Float], _ b: [Float], floor: Double = 1e-3) -> Double {
    relativeError(a, b.map(Double.init), floor: floor)
}

/// max |a - b| / max |b|: the error of sums whose terms cancel, where an elementwise
/// relative error would divide by a near-zero result.
func normwiseError(_ a: [Float], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let x = Double(a[i])
        if !x.isFinite { return .infinity }
        if b[i].isNaN { continue }
        num = max(num, abs(x - b[i])); den = max(den, abs(b[i]))
    }
    return den == 0 ? num : num / den
}
