import Foundation
import XCTest

/// GlowCore stays device- and launcher-agnostic: its dependencies in Package.swift are the
/// PNG and zlib system libraries and nothing else (no OpenCL, CUDA, MPI or BLAS), and this
/// test target needs nothing else to build and pass.
final class ManifestTests: XCTestCase {
    func testGlowCoreDependsOnNoDeviceOrLauncher() throws {
        let manifest = try String(contentsOf: TestPaths.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        func dependencies(of target: String) throws -> [String] {
            let pattern = try NSRegularExpression(pattern: "\\.(?:test)?[tT]arget\\(name: \"\(target)\", dependencies: \\[([^\\]]*)\\]")
            guard let m = pattern.firstMatch(in: manifest, range: NSRange(manifest.startIndex..., in: manifest)),
                  let r = Range(m.range(at: 1), in: manifest) else { return [] }
            return manifest[r].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
        }
        XCTAssertEqual(try dependencies(of: "GlowCore"), ["CLibPNG", "CZlib"])
        XCTAssertEqual(try dependencies(of: "GlowCoreTests"), ["GlowCore"])
        XCTAssertEqual(try dependencies(of: "GlowMPI"), ["GlowCore", "CMPI"])
    }
}
