import XCTest
import GlowCore

/// Asserts that `body` throws a `GlowError` whose message contains every one of `parts`.
public func assertGlowError(_ what: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("\(what): no error thrown", file: file, line: line)
    } catch let e as GlowError {
        for p in parts where !e.message.contains(p) {
            XCTFail("\(what): message \"\(e.message)\" does not contain \"\(p)\"", file: file, line: line)
        }
    } catch {
        XCTFail("\(what): threw \(type(of: error)) \(error), not a GlowError", file: file, line: line)
    }
}
