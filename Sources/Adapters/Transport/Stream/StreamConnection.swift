import CLinuxNet
import Glibc
import Logging
import NIOCore
import SeedWire

/// Why a connection's socket operation failed.
public enum SocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The connection was closed (by us, by a timeout, or by the peer) before the operation.
    case closed
    /// A system call failed.
    case system(call: String, errno: Int32)

    public var description: String {
        switch self {
        case .closed: "connection closed"
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        }
    }
}

/// One accepted TCP connection as a byte stream: the socket, its queues and watermarks,
/// timeouts and back-pressure. What the bytes mean is its `ConnectionHandler`'s business.
///
/// Everything here runs on the connection's `SocketLoop`: the socket events, and the tasks
/// the handler starts (with the loop as their task executor). A task talks to the
/// connection through `write`, `flush`, `confirmDelivery`, `nextPiece`, `writeAndClose`
/// and `close`, which run at once when called on the loop and are queued to it otherwise.
///
/// - An inbound stream (`openInboundStream`) hands a large content to a task in pieces;
///   while more than `pieceHighWatermark` bytes wait, the socket is not read.
/// - Writes go out as far as the socket takes them; the rest waits for the socket to
///   become writable, and `write` suspends while more than `writeHighWatermark` bytes wait.
/// - Closed with unread request bytes, a connection is half-closed and drained for a
///   moment first, so the peer reads what we wrote instead of a reset.
///
/// Split by concern: events, timeouts and closing here; reading and the inbound stream in
/// `StreamConnection+Reading.swift`; writing and delivery confirmation in
/// `StreamConnection+Writing.swift`. Its state is internal so those extensions reach it;
/// only this type touches it, always on its loop.
final class StreamConnection: SocketLoopHandler, @unchecked Sendable {
    var socket: SocketHandle
    /// The descriptor number this connection was registered under (kept for `forget`).
    let registeredFD: Int32
    let loop: SocketLoop
    let core: StreamServerCore
    var handler: any ConnectionHandler

    static let pieceHighWatermark = 1 << 20
    static let pieceLowWatermark = 256 * 1024
    static let writeHighWatermark = 1 << 20
    static let writeLowWatermark = 256 * 1024
    /// How long a refused peer may keep sending before the connection is closed anyway.
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    // Reading.
    var inbound: ByteBuffer?
    var nextReadSize = 4096
    var inputClosed = false
    var lingerUntil: UInt64?

    // The inbound stream (a content on its way to a task).
    var streaming = false
    var pieces = CircularBuffer<ByteBuffer>(initialCapacity: 8)
    var pieceBytes = 0
    var piecesFinished = false
    var pieceFailure: (any Error)?
    var pieceWaiter: UnsafeContinuation<ByteBuffer?, any Error>?
    var readPaused = false

    // Writing.
    var outbound = CircularBuffer<Outgoing>(initialCapacity: 4)
    var outboundBytes = 0
    var writeWaiter: (continuation: UnsafeContinuation<Void, any Error>, threshold: Int)?
    var closeWhenFlushed = false
    var noDelay = false
    /// Waits until the peer acknowledged every byte written (`confirmDelivery`).
    var confirmWaiter: UnsafeContinuation<Void, any Error>?

    // Lifetime.
    var epollEvents: UInt32 = 0
    var inEpoll = false
    var closed = false
    var taskRunning = false
    var released = false
    let openedAt: UInt64
    var lastActivity: UInt64

    /// The peer's address as `accept` gave it: kept, never asked of the descriptor again,
    /// so a log line written after close (when the number may name another socket already)
    /// still names this connection's peer.
    let peer: sockaddr_storage

    init(fd: Int32, peer: sockaddr_storage, loop: SocketLoop, core: StreamServerCore, handler: any ConnectionHandler, now: UInt64) {
        self.socket = SocketHandle(fd)
        self.registeredFD = fd
        self.peer = peer
        self.loop = loop
        self.core = core
        self.handler = handler
        self.openedAt = now
        self.lastActivity = now
    }

    /// The peer's address, for log lines only (formatted only when a line is logged).
    var peerDescription: String { describe(peer) }

    /// Runs `body` on the loop: at once when the caller is on it (a task the loop executes,
    /// never a socket callback, so nothing re-enters), otherwise queued to it.
    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if loop.inLoop { body() } else { loop.execute(body) }
    }

    // MARK: Socket events (on the loop)

    /// Reads what the peer has sent already, then waits for the rest.
    func start() {
        readAvailable()
        updateInterest()
    }

    func ready(_ events: UInt32) {
        if confirmWaiter != nil {
            confirmReady(events)
            return
        }
        if events & sealpost_epoll_out() != 0 { flushOutbound() }
        if events & (sealpost_epoll_in() | sealpost_epoll_rdhup()) != 0 { readAvailable() }
        if !closed && events & (sealpost_epoll_err() | sealpost_epoll_hup()) != 0 {
            // Reset, or both directions shut: nothing more can be read or written.
            if outbound.isEmpty && !wantsRead {
                fail(SocketError.closed)
            } else {
                readAvailable()
                flushOutbound()
                if !closed { fail(SocketError.closed) }
            }
        }
        updateInterest()
    }

    /// An event while waiting for the peer to acknowledge a reply. Whatever happened (its
    /// FIN, a reset, both sides shut), the acknowledgement count decides first: a peer that
    /// took every byte and then left, even by a reset, was served.
    func confirmReady(_ events: UInt32) {
        checkDelivery()
        guard confirmWaiter != nil, !closed else {
            updateInterest()
            return
        }
        if events & (sealpost_epoll_err() | sealpost_epoll_hup()) != 0 {
            // Gone with bytes unacknowledged.
            fail(SocketError.closed)
            return
        }
        if events & (sealpost_epoll_in() | sealpost_epoll_rdhup()) != 0 { readAvailable() }
        updateInterest()
    }

    func sweep(now: UInt64) {
        guard !closed else { return }
        let activity = handler.activity
        switch core.shutdownDemand(now: now) {
        case .none:
            break
        case .closeIdle:
            // No request yet (idle, or trickling one in), or lingering after a refusal:
            // nothing in flight to lose.
            if activity == .awaitingRequest || lingerUntil != nil {
                hardClose()
                return
            }
        case .closeAll:
            // The grace is over: a send not finished is not stored, a delivery not
            // acknowledged is released (by its task), never delivered twice.
            core.logger.info("closing connection: shutdown grace period over", metadata: ["peer": "\(peerDescription)"])
            hardClose()
            return
        }
        if confirmWaiter != nil {
            checkDelivery()
            if confirmWaiter != nil, now &- lastActivity >= core.idleTimeout {
                core.logger.info("closing connection: reply not acknowledged within the idle timeout", metadata: ["peer": "\(peerDescription)"])
                hardClose()
            }
            return
        }
        if let lingerUntil {
            if now >= lingerUntil { hardClose() }
            return
        }
        if activity == .awaitingRequest, now &- openedAt >= core.requestDeadline {
            core.logger.info("closing connection: no request within the deadline", metadata: ["peer": "\(peerDescription)"])
            hardClose()
            return
        }
        if activity != .busy, !readPaused, now &- lastActivity >= core.idleTimeout {
            core.logger.info("closing idle connection", metadata: ["peer": "\(peerDescription)"])
            hardClose()
        }
    }

    var wantsRead: Bool {
        guard !closed, !inputClosed, !readPaused else { return false }
        return lingerUntil != nil || confirmWaiter != nil || handler.wantsInput
    }

    func updateInterest() {
        guard !closed else { return }
        var wanted: UInt32 = 0
        if wantsRead { wanted |= sealpost_epoll_in() | sealpost_epoll_rdhup() }
        if !outbound.isEmpty { wanted |= sealpost_epoll_out() }
        if !inEpoll {
            // Not registered until there is something to wait for: a request that arrived
            // with the connection is answered without touching the epoll set.
            guard wanted != 0 else { return }
            inEpoll = loop.register(registeredFD, events: wanted, handler: self)
            epollEvents = wanted
            if !inEpoll { fail(SocketError.system(call: "epoll_ctl", errno: errno)) }
        } else if wanted != epollEvents {
            epollEvents = wanted
            if !loop.modify(registeredFD, events: wanted) { fail(SocketError.system(call: "epoll_ctl(MOD)", errno: errno)) }
        }
    }

    // MARK: Tasks

    /// Starts the task that serves what the handler decided, on this loop. The connection
    /// closes when the task ends, and counts as open until both happened.
    func startTask(_ body: @escaping @Sendable (StreamConnection) async -> Void) {
        taskRunning = true
        Task(executorPreference: loop) { [self] in
            await body(self)
            onLoop { self.taskEnded() }
        }
    }

    func taskEnded() {
        taskRunning = false
        if !closed { close() }
        releaseIfDone()
    }

    // MARK: Closing

    func fail(_ error: any Error) {
        guard !closed else { return }
        // A reply the peer acknowledged in full was delivered, however the connection ends.
        checkDelivery()
        failPieces(error)
        hardClose()
    }

    func hardClose() {
        guard !closed else { return }
        closed = true
        loop.forget(registeredFD, removeFromEpoll: false)
        socket.close()
        outbound.removeAll()
        outboundBytes = 0
        inbound = nil
        failPieces(SocketError.closed)
        if let waiter = pieceWaiter {
            pieceWaiter = nil
            waiter.resume(throwing: SocketError.closed)
        }
        if let waiter = writeWaiter {
            writeWaiter = nil
            waiter.continuation.resume(throwing: SocketError.closed)
        }
        if let waiter = confirmWaiter {
            confirmWaiter = nil
            waiter.resume(throwing: SocketError.closed)
        }
        releaseIfDone()
    }

    func releaseIfDone() {
        guard closed, !taskRunning, !released else { return }
        released = true
        core.connectionEnded()
    }
}
