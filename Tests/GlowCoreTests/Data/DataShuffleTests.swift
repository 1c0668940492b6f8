import Foundation
import XCTest
@testable import GlowCore

final class DataShuffleTests: XCTestCase {
    func testSplitMix64ReferenceOutputs() throws {
        // Published SplitMix64 outputs for seed 0.
        var rng = SplitMix64(seed: 0)
        XCTAssertEqual(rng.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(rng.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(rng.next(), 0x06C4_5D18_8009_454F)
    }

    func testPermutationProperties() throws {
        for n in [0, 1, 2, 17, 1000] {
            let p = try Shuffle.permutation(count: n, seed: 7)
            XCTAssertEqual(p.sorted(), Array(0 ..< n), "n \(n)")
        }
        XCTAssertEqual(try Shuffle.permutation(count: 1000, seed: 123), try Shuffle.permutation(count: 1000, seed: 123))
        XCTAssertNotEqual(try Shuffle.permutation(count: 1000, seed: 123), try Shuffle.permutation(count: 1000, seed: 124))
        XCTAssertNotEqual(try Shuffle.permutation(count: 1000, seed: 123), Array(0 ..< 1000))
    }

    func testPermutationMatchesReferenceImplementation() throws {
        // From an independent python implementation of the documented algorithm
        // (SplitMix64, Lemire bounded draws, Fisher–Yates from the top).
        XCTAssertEqual(try Shuffle.permutation(count: 10, seed: 42), [8, 3, 6, 5, 4, 0, 9, 2, 1, 7])
        XCTAssertEqual(try Shuffle.permutation(count: 12, seed: 2024), [4, 11, 8, 5, 9, 0, 3, 6, 10, 2, 1, 7])
    }
}
