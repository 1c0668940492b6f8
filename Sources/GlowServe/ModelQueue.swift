import Dispatch
import Foundation
import GlowGPU

/// Runs the server's model calls one at a time on their own thread (a `GlowModel` must be
/// used from one thread at a time, and its work must not hold up the threads that answer HTTP),
/// in arrival order, with at most `capacity` calls running or waiting: one more is refused at
/// once with 503. A call that waits past its deadline is dropped unrun (503); one that runs past
/// it is answered 504 and finishes in the background (device work cannot be interrupted).
public final class ModelQueue: @unchecked Sendable {
    /// The most calls running or waiting.
    public let capacity: Int
    /// Seconds a call may take from its arrival to its answer.
    public let timeout: Double

    private let model: GlowModel
    private let queue = DispatchQueue(label: "glow-serve.model")
    private let lock = NSLock()
    private var admitted = 0
    private var held = 0
    private var last: LastCall?

    /// The most recent completed call, for the model card.
    public struct LastCall: Sendable, Equatable {
        /// The route (`sample`, `encode`, …).
        public var route: String
        /// Images produced or encoded.
        public var images: Int
        /// Seconds of model work.
        public var seconds: Double
        /// `images / seconds`.
        public var imagesPerSecond: Double { images > 0 && seconds > 0 ? Double(images) / seconds : 0 }
    }

    /// A queue for `model`.
    public init(model: GlowModel, capacity: Int, timeout: Double) {
        self.model = model; self.capacity = max(1, capacity); self.timeout = timeout
    }

    /// Calls running or waiting now.
    public var busy: Int { lock.withLock { admitted } }

    /// The most recent completed call.
    public var lastCall: LastCall? { lock.withLock { last } }

    /// Runs `body` with the model when its turn comes. `body` returns its result and the
    /// number of images it made or encoded (for `lastCall`).
    /// - Throws: `RequestError` 503 when the queue is full or the call waited past its
    ///   deadline, 504 when it ran past it; whatever `body` throws.
    public func run<T>(_ route: String, _ body: @escaping (GlowModel) throws -> (T, images: Int)) async throws -> T {
        let ok: Bool = lock.withLock {
            if admitted >= capacity { return false }
            admitted += 1
            return true
        }
        guard ok else {
            throw RequestError(503, "the model is busy: \(capacity) call\(capacity == 1 ? "" : "s") running or waiting, "
                + "the most this server queues; try again shortly")
        }
        let deadline = DispatchTime.now() + timeout
        let box = ResultBox<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            box.arm(continuation)
            // The deadline answers the request: 503 when the call has not started (it is then
            // dropped), 504 when it runs (it runs to its end: device work cannot be interrupted).
            DispatchQueue.global().asyncAfter(deadline: deadline) {
                box.finish(.failure(box.started
                    ? RequestError(504, "\(route): no answer within \(Self.show(self.timeout)) s; the model is slower than this "
                        + "server's --timeout (its call finishes in the background)")
                    : RequestError(503, "\(route): waited \(Self.show(self.timeout)) s for the model without a turn; try again shortly")))
            }
            queue.async {
                guard box.start() else {   // answered already: dropped unrun
                    self.lock.withLock { self.admitted -= 1 }
                    return
                }
                let start = DispatchTime.now()
                let result = Result { try body(self.model) }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
                // The place is freed before the answer, so that the next request finds it free.
                self.lock.withLock {
                    self.admitted -= 1
                    if case .success(let (_, images)) = result { self.last = LastCall(route: route, images: images, seconds: seconds) }
                }
                box.finish(result.map(\.0))
            }
        }
    }

    /// `30`, `0.5`: seconds for messages.
    static func show(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }

    /// Occupies one place of the queue until `release()` (for tests of a full queue): returns
    /// false, holding nothing, when the queue is full.
    public func hold() -> Bool {
        lock.withLock {
            if admitted >= capacity { return false }
            admitted += 1; held += 1
            return true
        }
    }

    /// Frees a place taken by `hold()`.
    public func release() {
        lock.withLock { if held > 0 { held -= 1; admitted -= 1 } }
    }
}

/// A continuation resumed once, by whichever of the result and the deadline comes first, and
/// whether the call has started.
private final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?
    private var didStart = false

    func arm(_ c: CheckedContinuation<T, Error>) { lock.withLock { continuation = c } }

    /// Marks the call started; false (and not started) when it was answered already.
    func start() -> Bool {
        lock.withLock {
            guard continuation != nil else { return false }
            didStart = true
            return true
        }
    }

    /// Whether `start()` succeeded.
    var started: Bool { lock.withLock { didStart } }

    func finish(_ r: Result<T, Error>) {
        let c: CheckedContinuation<T, Error>? = lock.withLock {
            defer { continuation = nil }
            return continuation
        }
        c?.resume(with: r)
    }
}
