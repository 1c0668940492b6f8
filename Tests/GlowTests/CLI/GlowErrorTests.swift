import Foundation
import XCTest
@testable import GlowCore
@testable import GlowGPU

/// Typed errors: the library names settings, the command line names options.
final class GlowErrorTests: XCTestCase {
    func testSettingsAreNamedWhenShown() {
        let e = GlowError.invalid(.learningRate, value: "0.0", expected: "must be positive; lower \(Setting.clip)")
        XCTAssertEqual(e.description, "learningRate 0.0: must be positive; lower clip")
        XCTAssertEqual(e.commandLineDescription, "--lr 0.0: must be positive; lower --clip")
        XCTAssertEqual(Setting.imageSize.flag, "--image-size")
        XCTAssertEqual(Setting.batch.flag, "--batch")
        let saved = GlowError.differsFromSaved(file: "s.safetensors", setting: .seed, saved: "3", given: "4")
        XCTAssertEqual(saved.commandLineDescription, "s.safetensors: was trained with --seed 3, not 4; pass --seed 3")
        XCTAssertEqual(GlowError.invalid(.resume, value: "", expected: "no files").commandLineDescription, "--resume: no files")
        // An error inside another keeps its settings until shown.
        let outer = GlowError.invalid(.batch, value: "8", expected: e.text)
        XCTAssertEqual(outer.commandLineDescription, "--batch 8: --lr 0.0: must be positive; lower --clip")
        XCTAssertEqual((CommandLineError.presenting(e) as? CommandLineError)?.description, e.commandLineDescription)
        XCTAssertEqual("\(CommandLineError.presenting(DataError(path: "f", problem: "bad")))", "f: bad")
        // The optimizer's settings are checked where they are used.
        var opt = OptimizerConfig(); opt.beta2 = 1
        XCTAssertThrowsError(try opt.validate()) {
            XCTAssertEqual($0.commandLineDescription, "--beta2 1.0: must be in (0, 1), e.g. 0.999")
        }
        opt.beta2 = 0.99
        XCTAssertNoThrow(try opt.validate())
    }

    /// Every setting's option exists on `glow-gpu train` or another command's help.
    func testEveryFlagIsAnOptionSomewhere() throws {
        guard let bin = CLITests.binary else { throw XCTSkip("the glow-gpu binary was not found") }
        var help = ""
        for command in ["train", "encode", "bench", "eval"] {
            let p = Process(), pipe = Pipe()
            p.executableURL = bin
            p.arguments = [command, "--help"]
            p.standardOutput = pipe
            try p.run()
            help += String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
        }
        for s in Setting.allCases { XCTAssert(help.contains(s.flag + " ") || help.contains(s.flag + "\n"), "\(s.flag) is no option") }
    }
}
