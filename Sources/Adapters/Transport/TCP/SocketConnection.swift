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

/// One accepted connection and the one request it carries.
///
/// Everything here runs on the connection's `SocketLoop`: the socket events, and the
/// request's task (started with the loop as its task executor). The task talks to the
/// connection through `write`, `flush`, `nextPiece`, `writeAndClose` and `close`; each
/// hops to the loop when called elsewhere.
///
/// - A request that arrives whole is decoded and handed to one task, which answers it.
/// - A large content is handed over in pieces (`nextPiece`); while more than
///   `pieceHighWatermark` bytes wait, the socket is not read (back-pressure).
/// - Replies are written as far as the socket takes them; the rest waits for the socket to
///   become writable, and `write` suspends while more than `writeHighWatermark` bytes wait.
/// - A connection refused before its request was read in full is half-closed and drained
///   for a moment before it is closed, so the peer reads the 9000 instead of a reset.
///
/// Split by concern: reading and closing here, the content pipe in
/// `SocketConnection+Content.swift`, writing and delivery confirmation in
/// `SocketConnection+Writing.swift`. Its state is internal rather than private so those
/// extensions reach it; only this type touches it, always on its loop.
final class SocketConnection: SocketLoopHandler, @unchecked Sendable {
    let fd: Int32
    let loop: SocketLoop
    let core: SeedServerCore

    static let pieceHighWatermark = 1 << 20
    static let pieceLowWatermark = 256 * 1024
    static let writeHighWatermark = 1 << 20
    static let writeLowWatermark = 256 * 1024
    /// How long a refused peer may keep sending before the connection is closed anyway.
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    // Reading.
    var decoder: SeedRequestDecoder
    var inbound: ByteBuffer?
    var nextReadSize = 4096
    var inputClosed = false
    /// The request was taken (whole, or its head); later bytes belong to its content.
    var started = false
    /// Every byte of the request was read.
    var requestConsumed = false
    /// A complete request other than a pull is being worked on: silence is not idleness.
    var working = false
    var lingerUntil: UInt64?

    // The content of a streamed send, on its way to the task.
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

    init(fd: Int32, peer: sockaddr_storage, loop: SocketLoop, core: SeedServerCore, now: UInt64) {
        self.fd = fd
        self.peer = peer
        self.loop = loop
        self.core = core
        self.decoder = SeedRequestDecoder(maxPayload: core.limits.maxPayload, inlineLimit: core.limits.inlineContentLimit)
        self.openedAt = now
        self.lastActivity = now
    }

    /// The peer's address as `accept` gave it: kept, never asked of the descriptor again,
    /// so a log line written after close (when the number may name another socket already)
    /// still names this connection's peer.
    let peer: sockaddr_storage

    /// The peer's address, for log lines only (formatted only when a line is logged).
    var peerDescription: String { describe(peer) }

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
        switch core.shutdownDemand(now: now) {
        case .none:
            break
        case .closeIdle:
            // Not started: no request head yet (idle, or trickling one in). Lingering: a
            // refusal was already written. Neither has anything in flight to lose.
            if !started || lingerUntil != nil {
                hardClose()
                return
            }
        case .closeAll:
            // The grace is over: a send not finished is not stored, a pull not acknowledged
            // is released (its claim abandoned by the task), never delivered twice.
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
        if !started, now &- openedAt >= core.requestDeadline {
            core.logger.info("closing connection: no request within the deadline", metadata: ["peer": "\(peerDescription)"])
            hardClose()
            return
        }
        if !working, !readPaused, now &- lastActivity >= core.idleTimeout {
            core.logger.info("closing idle connection", metadata: ["peer": "\(peerDescription)"])
            hardClose()
        }
    }

    var wantsRead: Bool {
        guard !closed, !inputClosed, !readPaused else { return false }
        return !started || (streaming && !requestConsumed) || lingerUntil != nil || confirmWaiter != nil
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
            inEpoll = loop.register(fd, events: wanted, handler: self)
            epollEvents = wanted
            if !inEpoll { fail(SocketError.system(call: "epoll_ctl", errno: errno)) }
        } else if wanted != epollEvents {
            epollEvents = wanted
            if !loop.modify(fd, events: wanted) { fail(SocketError.system(call: "epoll_ctl(MOD)", errno: errno)) }
        }
    }

    func readAvailable() {
        var reads = 0
        while wantsRead && reads < 16 {
            reads += 1
            if inbound == nil { inbound = ByteBufferAllocator().buffer(capacity: nextReadSize) }
            let wanted = nextReadSize
            var failure: Int32 = 0
            let count = inbound!.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { raw -> Int in
                let result = Glibc.read(fd, raw.baseAddress, min(raw.count, wanted))
                if result < 0 { failure = errno; return 0 }
                return result
            }
            if failure != 0 {
                if failure == EAGAIN || failure == EWOULDBLOCK { return }
                if failure == EINTR { continue }
                fail(SocketError.system(call: "read", errno: failure))
                return
            }
            if count == 0 {
                inputClosed = true
                if confirmWaiter != nil {
                    checkDelivery()
                } else {
                    endOfInput()
                }
                return
            }
            lastActivity = monotonicNanoseconds()
            if lingerUntil != nil || confirmWaiter != nil {
                inbound!.clear()
                continue
            }
            if count == wanted { nextReadSize = 64 * 1024 }
            decodeAvailable()
            if count < wanted { return }  // drained: the next event says when more arrives
        }
    }

    func decodeAvailable() {
        guard var buffer = inbound else { return }
        inbound = nil  // the decoder's slices keep what they need
        do {
            while !closed, lingerUntil == nil, let part = try decoder.decode(buffer: &buffer) {
                take(part)
            }
        } catch {
            decodeFailed(error)
        }
        if buffer.readableBytes > 0 && lingerUntil == nil {
            inbound = buffer
        }
    }

    func endOfInput() {
        guard lingerUntil == nil else {
            hardClose()
            return
        }
        var buffer = inbound ?? ByteBuffer()
        inbound = nil
        do {
            while let part = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                take(part)
            }
        } catch {
            decodeFailed(error)
            return
        }
        if !started {
            // Connected and left without a word: nothing to answer.
            started = true
            hardClose()
        }
    }

    func take(_ part: SeedRequestPart) {
        switch part {
        case .complete(let request):
            guard !started else { return }
            started = true
            requestConsumed = true
            if case .pull = request {} else { working = true }
            let seed = core.seed
            startTask { connection in await seed.serve(request, on: connection) }
        case .sendHead(let header, let message):
            guard !started else { return }
            started = true
            streaming = true
            let seed = core.seed
            startTask { connection in await seed.serveUpload(header, message, from: connection) }
        case .content(let piece, let isLast):
            if isLast { requestConsumed = true }
            pushPiece(piece, isLast: isLast)
        }
    }

    func decodeFailed(_ error: any Error) {
        if streaming {
            // The upload's task sees the failure and answers.
            failPieces(error)
            return
        }
        guard !started else { return }
        started = true
        let seed = core.seed
        startTask { connection in await seed.serveUndecodable(error, on: connection) }
    }

    func startTask(_ body: @escaping @Sendable (SocketConnection) async -> Void) {
        taskRunning = true
        Task(executorPreference: loop) { [self] in
            await body(self)
            loop.execute { self.taskEnded() }
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
        loop.forget(fd, removeFromEpoll: false)
        Glibc.close(fd)
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
