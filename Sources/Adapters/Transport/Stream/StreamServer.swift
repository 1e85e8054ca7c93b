import CLinuxNet
import Glibc
import Logging
import NIOCore
import Synchronization

/// A TCP server on its own group of `SocketLoop`s: accepts connections and gives each to a
/// fresh `ConnectionHandler`, which speaks the wire protocol.
///
/// Every loop of the group waits on the one listening socket (EPOLLEXCLUSIVE wakes one per
/// connection); a connection stays on the loop that accepted it, and so do its tasks.
/// `run` waits until `close`, then for the connections in flight to finish, and then shuts
/// the group down: the server owns its loops, and none outlives it.
final class StreamServer: Sendable {
    /// The address the server listens on (with the real port when bound to port 0).
    let localAddress: SocketAddress
    let core: StreamServerCore
    let group: SocketLoopGroup
    private let listener: Int32
    private let state = Mutex(ListenerState())

    private struct ListenerState {
        var closing = false
        var loopsListening = 0
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private init(localAddress: SocketAddress, core: StreamServerCore, listener: Int32, group: SocketLoopGroup) {
        self.localAddress = localAddress
        self.core = core
        self.listener = listener
        self.group = group
    }

    /// Starts listening on `host`:`port` with a group of `threads` loops.
    static func bind(host: String, port: Int, threads: Int, threadName: String, core: StreamServerCore) async throws -> StreamServer {
        let (listener, address) = try TCPListener.open(host: host, port: port, backlog: 1024)
        let group = SocketLoopGroup(count: threads, name: threadName)
        let server = StreamServer(localAddress: address, core: core, listener: listener, group: group)
        server.state.withLock { $0.loopsListening = group.loops.count }
        let logger = core.logger
        await withTaskGroup(of: Void.self) { tasks in
            for loop in group.loops {
                tasks.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        loop.execute {
                            let acceptor = SocketAcceptor(listener: listener, loop: loop, core: core)
                            if !loop.register(listener, events: sealpost_epoll_in() | sealpost_epoll_exclusive(), handler: acceptor) {
                                logger.error("cannot watch the listening socket", metadata: ["errno": "\(errno)"])
                            }
                            continuation.resume()
                        }
                    }
                }
            }
        }
        return server
    }

    /// Returns once `close()` was called, every connection has been served, and the loops
    /// have stopped.
    func run() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.closed { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        while core.openConnections > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await group.shutdown()
    }

    /// Stops accepting and starts the shutdown (`StreamServerCore.beginShutdown`). `run()`
    /// returns once the connections in flight are done.
    func close() {
        let first = state.withLock { state -> Bool in
            defer { state.closing = true }
            return !state.closing
        }
        guard first else { return }
        core.beginShutdown()
        for loop in group.loops {
            loop.execute { [self] in
                loop.forget(listener, removeFromEpoll: true)
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.loopsListening -= 1
                    guard state.loopsListening == 0 else { return [] }
                    state.closed = true
                    Glibc.close(listener)
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
        }
    }
}
