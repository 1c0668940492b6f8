import Foundation
import FlyingFox
import FlyingSocks

/// FlyingFox's socket pool (epoll on Linux) with two limits FlyingFox 0.27 does not have, and
/// `TCP_NODELAY` on the connections (see `suspendSocket`):
///
/// - **an idle timeout**: a connection that neither sends nor takes a byte for `idleSeconds`
///   (a client that opens a connection and stalls, mid-request or between requests) is closed;
/// - **closing a connection after a refused body**: when the server answers 413 without reading
///   a body, the rest of that body must not be parsed as the next request, so the handler names
///   the connection (`close(peer:)`) and its next read ends it.
///
/// The listening socket is passed through untouched.
struct GuardedSocketPool: AsyncSocketPool {
    let base: any AsyncSocketPool
    let idleSeconds: Double
    let doomed: DoomedConnections

    func prepare() async throws { try await base.prepare() }

    func run() async throws { try await base.run() }

    func suspendSocket(_ socket: Socket, untilReadyFor events: Socket.Events) async throws {
        if Self.isListening(socket.file.rawValue) {
            // Accepted connections inherit TCP_NODELAY from the listening socket (Linux).
            // FlyingFox writes a response's head and body separately; with Nagle's algorithm
            // the body then waits for the client's delayed ACK, 40 ms on every keep-alive request.
            Self.setNoDelay(socket.file.rawValue)
            return try await base.suspendSocket(socket, untilReadyFor: events)
        }
        if events.contains(.read), !doomed.isEmpty, doomed.take(peer: (try? socket.remotePeer()).map(DoomedConnections.key)) {
            throw SocketError.disconnected
        }
        let nanoseconds = UInt64(idleSeconds * 1e9)
        let base = self.base
        let ready = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await base.suspendSocket(socket, untilReadyFor: events); return true }
            group.addTask { try await Task.sleep(nanoseconds: nanoseconds); return false }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        if !ready { throw SocketError.disconnected }
    }

    /// Sets `TCP_NODELAY` on `fd` (ignored for sockets that are not TCP).
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Whether `fd` is a listening socket (`SO_ACCEPTCONN`).
    static func isListening(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }
}

/// The peers (address and port, one per TCP connection) whose connections are to be closed at
/// their next read.
final class DoomedConnections: @unchecked Sendable {
    private let lock = NSLock()
    private var peers: Set<String> = []

    /// Marks the connection of `peer` (from `HTTPRequest.remoteAddress`).
    func close(peer: HTTPRequest.Address?) {
        guard let peer else { return }
        let key: String
        switch peer {
        case let .ip4(a, port): key = "\(a):\(port)"
        case let .ip6(a, port): key = "[\(a)]:\(port)"
        case let .unix(p): key = p
        }
        lock.withLock { _ = peers.insert(key) }
    }

    /// Whether no connection is marked.
    var isEmpty: Bool { lock.withLock { peers.isEmpty } }

    /// True (once) when `peer` was marked.
    func take(peer: String?) -> Bool {
        lock.withLock {
            guard let peer, !peers.isEmpty else { return false }
            return peers.remove(peer) != nil
        }
    }

    /// The key of a socket's peer address.
    static func key(_ a: Socket.Address) -> String {
        switch a {
        case let .ip4(a, port): return "\(a):\(port)"
        case let .ip6(a, port): return "[\(a)]:\(port)"
        case let .unix(p): return p
        }
    }
}
