import Foundation
import XCTest
@testable import GlowCore
@testable import GlowCPU
@testable import GlowGPU

/// The backend registry: one list of kinds that `--device`, its help and `devices` read.
final class BackendRegistryTests: XCTestCase {
    /// Names are unique, every kind's forms start with its name (or are its own aliases),
    /// the help text names every form, and `auto` orders the kinds by `autoRank`.
    func testKindsAndHelp() {
        let names = BackendRegistry.kinds.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "\(names)")
        XCTAssertEqual(Set(BackendRegistry.kinds.map(\.autoRank)).count, names.count, "autoRank must order the kinds")
        let help = BackendRegistry.deviceHelp
        for kind in BackendRegistry.kinds {
            XCTAssertEqual(kind.specForms.first, kind.name)
            for form in kind.specForms { XCTAssert(help.contains(form), "\(form) missing from: \(help)") }
            XCTAssert(help.contains(kind.autoDescription), help)
            XCTAssert(BackendRegistry.kind(named: kind.name).map { $0.name == kind.name } ?? false)
        }
        XCTAssert(help.hasPrefix("\(names[0]), \(BackendRegistry.auto) ("), help)
    }

    /// `--device` parsing goes through the kinds: case and spaces do not matter, a kind's
    /// malformed `NAME:N` is its own named error, an unknown value lists every form.
    func testDeviceSelectorReadsTheRegistry() throws {
        let cpu = CPUKind().name
        XCTAssert(try DeviceSelector.open(cpu) is CPUBackend)
        XCTAssert(try DeviceSelector.open(" \(cpu.uppercased()) ") is CPUBackend)
        let two = try XCTUnwrap(DeviceSelector.open(cpu, localRank: 1, localSize: 2) as? CPUBackend)
        XCTAssertEqual(two.threads, CPUThreads.defaultCount(localSize: 2))
        let opencl = OpenCLKind().name
        XCTAssertThrowsError(try DeviceSelector.open("\(opencl):x")) { e in XCTAssert("\(e)".contains("expected \(opencl):N"), "\(e)") }
        XCTAssertThrowsError(try DeviceSelector.open("no-such-device-zz")) { e in
            for form in BackendRegistry.kinds.flatMap(\.specForms) + [BackendRegistry.auto] {
                XCTAssert("\(e)".contains(form), "\(form) not in: \(e)")
            }
        }
        XCTAssertThrowsError(try DeviceSelector.open(cpu, precision: .tf32)) { e in XCTAssert("\(e)".contains("FP32 only"), "\(e)") }
        if try TestBackends.openCL() != nil {
            XCTAssert(try DeviceSelector.open(opencl) is OpenCLBackend)
            XCTAssert(try DeviceSelector.open("\(opencl):0") is OpenCLBackend)
            XCTAssertThrowsError(try DeviceSelector.open("\(opencl):99")) { e in XCTAssert("\(e)".contains("OpenCL devices (0…"), "\(e)") }
        }
    }

    /// No source file outside the registry and the kinds names a device kind in a string
    /// literal: adding a backend must not mean hunting for "cuda" in switch statements.
    func testNoDeviceKindLiteralsOutsideTheRegistry() throws {
        let root = TestPaths.root
        let sources = root.appendingPathComponent("Sources")
        let kinds = BackendRegistry.kinds.flatMap { k in [k.name] + k.specForms.map { $0.replacingOccurrences(of: ":N", with: ":") } }
        let pattern = try NSRegularExpression(pattern: "\"(" + Set(kinds).map(NSRegularExpression.escapedPattern).joined(separator: "|") + ")\"")
        var offenders: [String] = [], scanned = 0
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let name = url.lastPathComponent
            if name.hasSuffix("Kind.swift") || name == "BackendRegistry.swift" { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            scanned += 1
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let line = text[..<Range(m.range, in: text)!.lowerBound].filter { $0 == "\n" }.count + 1
                offenders.append("\(url.path.dropFirst(root.path.count + 1)):\(line)")
            }
        }
        XCTAssertGreaterThan(scanned, 100)
        XCTAssertEqual(offenders, [], "device kinds named outside the registry: use BackendRegistry / the kind's `name`")
    }
}

