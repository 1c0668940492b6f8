import Foundation

/// Free device or host allocations kept by size for reuse. Layers allocate scratch
/// freely; after the first training step every request of the same size is served from
/// here, so a step in its steady state makes no allocation. Thread-safe (buffers may be
/// released on any thread). Holds at most `limitBytes` of free memory; beyond that a
/// released allocation is freed at once. A device backend sizes the limit from the device's
/// free memory (`limit(freeDeviceBytes:)`), so that a step's scratch fits in it.
public final class BufferPool<Handle>: @unchecked Sendable {
    private var free: [Int: [Handle]] = [:]
    private var freeBytes = 0
    private let lock = NSLock()
    private let release: (Handle) -> Void
    /// The most free memory kept, in bytes.
    public var limitBytes: Int

    /// A pool that frees with `release`.
    public init(limitBytes: Int = BufferPoolLimit.fallbackBytes, release: @escaping (Handle) -> Void) {
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

/// How much released memory a device's buffer pool keeps.
public enum BufferPoolLimit {
    /// The limit when the device's free memory is unknown: 4 GiB.
    public static let fallbackBytes = 4 << 30

    /// The limit for a device with `freeDeviceBytes` free when its backend starts: half of
    /// it. A training step's scratch (every buffer released and taken again within a step)
    /// then stays in the pool as long as it is under half the memory the device had free, so a
    /// steady step allocates and frees nothing; the other half is left for the step's live
    /// buffers, cuBLAS's workspace and other processes on the device. An allocation that fails
    /// for want of memory empties the pool and is tried once more, so the pool never causes
    /// an out-of-memory error. Nil or a non-positive value gives `fallbackBytes`.
    public static func bytes(freeDeviceBytes: Int?) -> Int {
        guard let free = freeDeviceBytes, free > 0 else { return fallbackBytes }
        return free / 2
    }
}
