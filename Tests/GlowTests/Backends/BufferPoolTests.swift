import XCTest
@testable import GlowCore

/// The buffer pool's limit: released allocations are kept by size up to `limitBytes` and
/// freed beyond it; a device backend sizes the limit from its free memory.
final class BufferPoolTests: XCTestCase {
    func testKeepsUpToTheLimitAndReleasesBeyondIt() {
        var released: [Int] = []
        let pool = BufferPool<Int>(limitBytes: 100, release: { released.append($0) })
        pool.give(1, count: 20)   // 80 bytes: kept
        pool.give(2, count: 5)    // 100 bytes in all: kept
        pool.give(3, count: 1)    // 104 > 100: freed at once
        XCTAssertEqual(released, [3])
        XCTAssertEqual(pool.take(count: 20), 1)
        XCTAssertNil(pool.take(count: 20), "one allocation of that size was kept")
        pool.give(4, count: 5)    // 40 bytes kept now
        pool.trim()
        XCTAssertEqual(Set(released), [3, 2, 4])
        XCTAssertNil(pool.take(count: 5))
    }

    func testLimitFromFreeDeviceMemory() {
        XCTAssertEqual(BufferPoolLimit.bytes(freeDeviceBytes: 80 << 30), 40 << 30, "half of an 80 GiB device")
        XCTAssertEqual(BufferPoolLimit.bytes(freeDeviceBytes: 3 << 20), 3 << 19)
        XCTAssertEqual(BufferPoolLimit.bytes(freeDeviceBytes: nil), 4 << 30, "unknown: the 4 GiB fallback")
        XCTAssertEqual(BufferPoolLimit.bytes(freeDeviceBytes: 0), BufferPoolLimit.fallbackBytes)
        XCTAssertEqual(BufferPool<Int>(release: { _ in }).limitBytes, BufferPoolLimit.fallbackBytes)
    }
}
