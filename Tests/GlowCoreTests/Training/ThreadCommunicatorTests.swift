import Foundation
import XCTest
@testable import GlowCore

/// The in-process ranks' collectives (`--ranks`): sums added in rank order whatever the
/// threads' timing, maxima, barriers, and a size mismatch refused on every rank.
final class ThreadCommunicatorTests: XCTestCase {
    /// The ranks' results, written under its lock.
    final class RankResults<T>: @unchecked Sendable {
        let lock = NSLock()
        var byRank: [Result<T, Error>?]
        init(_ n: Int) { byRank = Array(repeating: nil, count: n) }
    }

    /// Runs `body` on `size` ranks, each on its own thread, and returns their results by rank.
    func onRanks<T>(_ size: Int, _ body: @escaping (ThreadCommunicator) throws -> T) throws -> [T] {
        let group = ThreadRankGroup(size: size), results = RankResults<T>(size)
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            Thread {
                // Stagger the ranks so they reach the collectives in different orders.
                usleep(useconds_t((size - r) * 2000))
                let out = Result { try body(group.communicator(rank: r)) }
                results.lock.lock(); results.byRank[r] = out; results.lock.unlock()
                done.leave()
            }.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "the ranks did not all return")
        return try results.byRank.map { try XCTUnwrap($0).get() }
    }

    /// Values whose float sum depends on the order: ((1e8 + 1) + -1e8) is 0 but
    /// (1e8 + -1e8) + 1 is 1, so only rank order 0, 1, 2 gives 0 in every slot.
    func testSumIsAddedInRankOrderOnEveryRank() throws {
        let count = 1001
        let perRank: [Float] = [1e8, 1, -1e8]
        for _ in 0..<5 {
            let sums = try onRanks(3) { comm -> [Float] in
                var v = [Float](repeating: perRank[comm.rank], count: count)
                v[7] = Float(comm.rank + 1)   // one ordinary slot: 1 + 2 + 3
                try v.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
                return v
            }
            for s in sums {
                XCTAssertEqual(s[7], 6)
                XCTAssertEqual(s.enumerated().filter { $0.offset != 7 }.map(\.element), [Float](repeating: (1e8 + 1) + -1e8, count: count - 1))
            }
        }
    }

    func testDoubleSumMaxAnyAndBarrier() throws {
        let out = try onRanks(4) { comm -> ([Double], [Double], Bool, Bool) in
            var s = [Double(comm.rank), 1]
            try comm.allReduceSum(&s)
            var m = [Double(comm.rank), -Double(comm.rank)]
            try comm.allReduceMax(&m)
            try comm.barrier()
            return (s, m, try comm.any(comm.rank == 2), try comm.any(false))
        }
        for (s, m, some, none) in out {
            XCTAssertEqual(s, [6, 4]); XCTAssertEqual(m, [3, 0]); XCTAssertTrue(some); XCTAssertFalse(none)
        }
        XCTAssertEqual(ThreadRankGroup(size: 3).communicator(rank: 2).localRank, 2)
        XCTAssertEqual(ThreadRankGroup(size: 3).communicator(rank: 2).localSize, 3)
    }

    /// Ranks that disagree on a buffer's size all get the error (none waits for the others).
    func testSizeMismatchIsRefusedOnEveryRank() throws {
        let out = try onRanks(2) { comm -> String in
            var v = [Float](repeating: 1, count: 3 + comm.rank)
            do { try v.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) } } catch { return "\(error)" }
            return "no error"
        }
        for message in out { XCTAssertTrue(message.contains("buffers of different sizes ([3, 4])"), message) }
    }
}
