import Foundation
import XCTest
@testable import GlowCore
@testable import GlowGPU

/// glow_ops.h is the one place kernels.cl and Swift take operation codes and tunable
/// defaults from.
final class KernelOpsTests: XCTestCase {
    private var kernelsCL: String {
        get throws {
            let root = TestPaths.root
            return try String(contentsOf: root.appendingPathComponent("kernels.cl"), encoding: .utf8)
        }
    }

    /// Codes are distinct per operation family, and kernels.cl switches on the header's names,
    /// never on bare numbers.
    func testOperationCodesComeFromTheHeader() throws {
        XCTAssertEqual(Set(BinaryOp.allCases.map(\.kernelCode)).count, BinaryOp.allCases.count)
        let text = try kernelsCL
        let bare = try NSRegularExpression(pattern: #"^\s*case\s+[0-9]+\s*:"#, options: .anchorsMatchLines)
        XCTAssertEqual(bare.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text)), 0,
                       "kernels.cl switches on a bare number: name it in glow_ops.h")
        XCTAssert(text.contains("case GLOW_BINARY_ADD:") && text.contains("case GLOW_BINARY_SUBTRACT:"))
    }

    /// Every tunable kernels.cl defines falls back on glow_ops.h's default, and the tuning
    /// table's defaults are the same values.
    func testTunableDefaultsAreDefinedOnce() throws {
        let text = try kernelsCL
        var inKernels = 0
        for t in Tunable.allCases where text.contains("#ifndef \(t.name)\n") {
            XCTAssert(text.contains("#define \(t.name) GLOW_DEFAULT_\(t.name)"), "\(t.name) has its own default in kernels.cl")
            inKernels += 1
        }
        XCTAssertEqual(inKernels, 10, "GEMM_TV, MWG, NWG, KWG, MDIMC, NDIMC, VWM, VWN, GROUPS_PER_CU and WG_REDUCE are kernels.cl's")
        for (name, v) in KernelTuningTable.gpuDefaults.merging(KernelTuningTable.cpuDefaults, uniquingKeysWith: { a, _ in a }) {
            XCTAssertEqual(Tunable(rawValue: name)?.defaultValue, v, name)
        }
        XCTAssertEqual(KernelTuningTable.valueDescriptions.count, Tunable.allCases.count)
        let source = KernelSource.text
        XCTAssert(source.hasPrefix("#line 1 \"glow_ops.h\""))
        XCTAssert(source.contains("#define GLOW_OPS_H") && source.contains("#line 1 \"kernels.cl\""))
        XCTAssertEqual(KernelTuning(variant: .gpu)[.mwg], Tunable.mwg.defaultValue)
        XCTAssertEqual(KernelTuning(variant: .gpu, values: ["MWG": 128])[.mwg], 128)
    }
}
