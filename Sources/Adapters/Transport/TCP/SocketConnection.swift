import CLinuxNet
import Glibc
import Logging
import NIOCore

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
final class SocketConnection: SocketLoopHandler, @unchecked Sendable {
    let fd: Int32
    let loop: SocketLoop
    private let core: SeedServerCore

    static let pieceHighWatermark = 1 << 20
    static let pieceLowWatermark = 256 * 1024
    static let writeHighWatermark = 1 << 20
    static let writeLowWatermark = 256 * 1024
    /// How long a refused peer may keep sending before the connection is closed anyway.
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    // Reading.
    private var decoder: SeedRequestDecoder
    private var inbound: ByteBuffer?
    private var nextReadSize = 4096
    private var inputClosed = false
    /// The request was taken (whole, or its head); later bytes belong to its content.
    private var started = false
    /// Every byte of the request was read.
    private var requestConsumed = false
    /// A complete request other than a pull is being worked on: silence is not idleness.
    private var working = false
    private var lingerUntil: UInt64?

    // The content of a streamed send, on its way to the task.
    private var streaming = false
    private var pieces = CircularBuffer<ByteBuffer>(initialCapacity: 8)
    private var pieceBytes = 0
    private var piecesFinished = false
    private var pieceFailure: (any Error)?
    private var pieceWaiter: UnsafeContinuation<ByteBuffer?, any Error>?
    private var readPaused = false

    // Writing.
    private var outbound = CircularBuffer<Outgoing>(initialCapacity: 4)
    private var outboundBytes = 0
    private var writeWaiter: (continuation: UnsafeContinuation<Void, any Error>, threshold: Int)?
    private var closeWhenFlushed = false
    private var noDelay = false
    /// Waits until the peer acknowledged every byte written (`confirmDelivery`).
    private var confirmWaiter: UnsafeContinuation<Void, any Error>?

    // Lifetime.
    private var epollEvents: UInt32 = 0
    private var inEpoll = false
    private var closed = false
    private var taskRunning = false
    private var released = false
    private let openedAt: UInt64
    private var lastActivity: UInt64

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
    private let peer: sockaddr_storage

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
    private func confirmReady(_ events: UInt32) {
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

    private var wantsRead: Bool {
        guard !closed, !inputClosed, !readPaused else { return false }
        return !started || (streaming && !requestConsumed) || lingerUntil != nil || confirmWaiter != nil
    }

    private func updateInterest() {
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

    private func readAvailable() {
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

    private func decodeAvailable() {
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

    private func endOfInput() {
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

    private func take(_ part: SeedRequestPart) {
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

    private func decodeFailed(_ error: any Error) {
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

    private func startTask(_ body: @escaping @Sendable (SocketConnection) async -> Void) {
        taskRunning = true
        Task(executorPreference: loop) { [self] in
            await body(self)
            loop.execute { self.taskEnded() }
        }
    }

    private func taskEnded() {
        taskRunning = false
        if !closed { close() }
        releaseIfDone()
    }

    // MARK: Content pieces (producer on the loop, consumer is the task)

    private func pushPiece(_ piece: ByteBuffer, isLast: Bool) {
        guard !piecesFinished, pieceFailure == nil else { return }
        piecesFinished = isLast
        if let waiter = pieceWaiter {
            pieceWaiter = nil
            waiter.resume(returning: piece)
            return
        }
        pieces.append(piece)
        pieceBytes += piece.readableBytes
        if pieceBytes > Self.pieceHighWatermark && !isLast { readPaused = true }
    }

    private func failPieces(_ error: any Error) {
        // Once the last piece arrived, the content is whole whatever happens to the socket.
        guard streaming, !piecesFinished, pieceFailure == nil else { return }
        pieceFailure = error
        if let waiter = pieceWaiter {
            pieceWaiter = nil
            waiter.resume(throwing: error)
        }
    }

    /// The next piece of the streamed content, or `nil` after the last.
    func nextPiece() async throws -> ByteBuffer? {
        try await withUnsafeThrowingContinuation { continuation in
            loop.execute { self.takePiece(continuation) }
        }
    }

    private func takePiece(_ continuation: UnsafeContinuation<ByteBuffer?, any Error>) {
        if let piece = pieces.popFirst() {
            pieceBytes -= piece.readableBytes
            if readPaused && pieceBytes < Self.pieceLowWatermark {
                readPaused = false
                readAvailable()
                updateInterest()
            }
            continuation.resume(returning: piece)
        } else if let pieceFailure {
            continuation.resume(throwing: pieceFailure)
        } else if piecesFinished {
            continuation.resume(returning: nil)
        } else if closed {
            continuation.resume(throwing: SocketError.closed)
        } else {
            pieceWaiter = continuation
        }
    }

    // MARK: Writing (called by the task)

    /// Queues `bytes` and writes what the socket takes; suspends while more than
    /// `writeHighWatermark` bytes wait. Throws once the connection failed.
    func write(_ bytes: ByteBuffer) async throws {
        try await write(.buffer(bytes))
    }

    /// Like `write(_:)` for bytes already in an array (a content piece from a store),
    /// sent from the array itself rather than copied into a buffer first.
    func write(_ bytes: [UInt8]) async throws {
        try await write(.array(bytes, offset: 0))
    }

    private func write(_ bytes: Outgoing) async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            loop.execute {
                guard !self.closed else {
                    continuation.resume(throwing: SocketError.closed)
                    return
                }
                if !self.noDelay {
                    // A reply in several pieces: its last small piece must not wait for the
                    // peer's (possibly delayed) acknowledgement of the previous one.
                    self.noDelay = true
                    var one: Int32 = 1
                    guard setsockopt(self.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                        let failure = SocketError.system(call: "setsockopt(TCP_NODELAY)", errno: errno)
                        self.fail(failure)
                        continuation.resume(throwing: failure)
                        return
                    }
                }
                self.queue(bytes)
                self.flushOutbound()
                self.updateInterest()
                self.resumeWhenBelow(Self.writeHighWatermark, lowWatermark: Self.writeLowWatermark, continuation)
            }
        }
    }

    /// Returns once every queued byte was handed to the kernel.
    func flush() async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            loop.execute { self.resumeWhenBelow(0, lowWatermark: 0, continuation) }
        }
    }

    /// Returns once the peer's TCP has acknowledged every byte written; throws if the
    /// connection fails first. Ends our side of the connection (the reply is complete),
    /// so a peer that reads to the end sees it at once.
    ///
    /// Bytes handed to the kernel are not yet delivered: a peer that resets after reading
    /// part of a large reply leaves the rest unacknowledged, and this throws.
    func confirmDelivery() async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            loop.execute {
                guard !self.closed, self.outbound.isEmpty else {
                    continuation.resume(throwing: SocketError.closed)
                    return
                }
                shutdown(self.fd, Int32(SHUT_WR))
                self.confirmWaiter = continuation
                self.checkDelivery()
                self.updateInterest()
            }
        }
    }

    private func checkDelivery() {
        guard let waiter = confirmWaiter else { return }
        let unacknowledged = sealpost_unacknowledged_bytes(fd)
        // Our FIN (sent by `confirmDelivery`) takes one sequence number: one unacknowledged
        // means every byte of the reply was acknowledged and only the FIN is in flight, as
        // when the peer read the whole reply and closed before our FIN reached it.
        if unacknowledged >= 0 && unacknowledged <= 1 {
            confirmWaiter = nil
            waiter.resume()
        } else if unacknowledged < 0 {
            fail(SocketError.system(call: "ioctl(SIOCOUTQ)", errno: errno))
        }
    }

    /// Writes `bytes` and closes once they are out (or the peer is gone).
    func writeAndClose(_ bytes: ByteBuffer) {
        loop.execute {
            guard !self.closed else { return }
            self.queue(.buffer(bytes))
            self.flushOutbound()
            self.close()
        }
    }

    /// Closes once queued bytes are out. A peer still sending its request is half-closed
    /// and drained for a moment first, so what we wrote is read rather than reset.
    func close() {
        loop.execute {
            guard !self.closed else { return }
            if !self.outbound.isEmpty {
                self.closeWhenFlushed = true
                self.updateInterest()
                return
            }
            self.closeAfterFlush()
        }
    }

    private func closeAfterFlush() {
        if requestConsumed || inputClosed || lingerUntil != nil {
            hardClose()
            return
        }
        // Unread request bytes: closing now would reset the connection and could destroy
        // the reply in the peer's receive buffer.
        shutdown(fd, Int32(SHUT_WR))
        lingerUntil = monotonicNanoseconds() + Self.lingerNanoseconds
        readPaused = false
        inbound = nil
        failPieces(SocketError.closed)
        readAvailable()
        updateInterest()
    }

    private func queue(_ bytes: Outgoing) {
        guard bytes.count > 0 else { return }
        outbound.append(bytes)
        outboundBytes += bytes.count
    }

    private func resumeWhenBelow(_ threshold: Int, lowWatermark: Int, _ continuation: UnsafeContinuation<Void, any Error>) {
        if closed {
            continuation.resume(throwing: SocketError.closed)
        } else if outboundBytes <= threshold {
            continuation.resume()
        } else {
            writeWaiter = (continuation, lowWatermark)
        }
    }

    private func flushOutbound() {
        while !closed, !outbound.isEmpty {
            var failure: Int32 = 0
            let written = outbound[outbound.startIndex].withUnsafeBytes { raw -> Int in
                let result = send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                if result < 0 { failure = errno; return 0 }
                return result
            }
            if failure != 0 {
                if failure == EAGAIN || failure == EWOULDBLOCK { break }
                if failure == EINTR { continue }
                fail(SocketError.system(call: "send", errno: failure))
                return
            }
            lastActivity = monotonicNanoseconds()
            outboundBytes -= written
            if written == outbound[outbound.startIndex].count {
                outbound.removeFirst()
            } else {
                outbound[outbound.startIndex].consume(written)
            }
        }
        if let waiter = writeWaiter, outboundBytes <= waiter.threshold {
            writeWaiter = nil
            waiter.continuation.resume()
        }
        if outbound.isEmpty && closeWhenFlushed && !closed {
            closeWhenFlushed = false
            closeAfterFlush()
        }
    }

    // MARK: Closing

    private func fail(_ error: any Error) {
        guard !closed else { return }
        // A reply the peer acknowledged in full was delivered, however the connection ends.
        checkDelivery()
        failPieces(error)
        hardClose()
    }

    private func hardClose() {
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

    private func releaseIfDone() {
        guard closed, !taskRunning, !released else { return }
        released = true
        core.connectionEnded()
    }
}

/// Bytes waiting to be written.
private enum Outgoing {
    case buffer(ByteBuffer)
    case array([UInt8], offset: Int)

    var count: Int {
        switch self {
        case .buffer(let buffer): buffer.readableBytes
        case .array(let bytes, let offset): bytes.count - offset
        }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .buffer(let buffer):
            try buffer.withUnsafeReadableBytes(body)
        case .array(let bytes, let offset):
            try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        }
    }

    mutating func consume(_ count: Int) {
        switch self {
        case .buffer(var buffer):
            buffer.moveReaderIndex(forwardBy: count)
            self = .buffer(buffer)
        case .array(let bytes, let offset):
            self = .array(bytes, offset: offset + count)
        }
    }
}

/// "address:port" of a socket address, for logs.
func describe(_ storage: sockaddr_storage) -> String {
    var storage = storage
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let family = Int32(storage.ss_family)
    return withUnsafePointer(to: &storage) { pointer -> String in
        switch family {
        case AF_INET:
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var ip = address.pointee.sin_addr
                inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
                return "\(cString(text)):\(UInt16(bigEndian: address.pointee.sin_port))"
            }
        case AF_INET6:
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var ip = address.pointee.sin6_addr
                inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
                return "[\(cString(text))]:\(UInt16(bigEndian: address.pointee.sin6_port))"
            }
        default:
            return "?"
        }
    }
}

private func cString(_ characters: [CChar]) -> String {
    let bytes = characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
