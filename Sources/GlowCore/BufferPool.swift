import Foundation

/// Free device or host allocations kept by size for reuse. Layers allocate scratch
/// freely; after the first training step every request of the same size is served from
/// here, so a step in its steady state makes no allocation. Thread-safe (buffers may be
/// released on any thread). Holds at most `limitBytes` of free memory; beyond that a
/// released allocation is freed at once.
public final class BufferPool<Handle>: @unchecked Sendable {
    private var free: [Int: [Handle]] = [:]
    private var freeBytes = 0
    private let lock = NSLock()
    private let release: (Handle) -> Void
    /// The most free memory kept, in bytes.
    public var limitBytes: Int

    /// A pool that frees with `release`.
    public init(limitBytes: Int = 4 << 30, release: @escaping (Handle) -> Void) {
        self.release = release; self.limitBytes = limitBytes
    }

    /// A free allocation of exactly `count` floats, if one is kept.
    public func take(count: Int) -> Handle? {
        lock.lock(); defer { lock.unlock() }
        guard var list = free[count], let h = list.popLast() else { return nil }
        free[count] = list
        freeBytes -= count * 4
        return h
    }

    /// Returns an allocation of `count` floats.
    public func give(_ h: Handle, count: Int) {
        lock.lock()
        if freeBytes + count * 4 > limitBytes {
            lock.unlock()
            release(h)
            return
        }
        free[count, default: []].append(h)
        freeBytes += count * 4
        lock.unlock()
    }

    /// Frees everything kept.
    public func trim() {
        lock.lock()
        let all = free.values.flatMap { $0 }
        free = [:]; freeBytes = 0
        lock.unlock()
        all.forEach(release)
    }

    deinit { free.values.flatMap { $0 }.forEach(release) }
}
