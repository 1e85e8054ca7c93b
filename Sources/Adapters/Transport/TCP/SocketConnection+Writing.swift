import CLinuxNet
import Glibc
import NIOCore

// The writing half of `SocketConnection`: replies queued by the task, flushed on the loop
// with back-pressure, delivery confirmed by the peer's acknowledgements.
extension SocketConnection {
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

    func write(_ bytes: Outgoing) async throws {
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

    func checkDelivery() {
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

    func closeAfterFlush() {
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

    func queue(_ bytes: Outgoing) {
        guard bytes.count > 0 else { return }
        outbound.append(bytes)
        outboundBytes += bytes.count
    }

    func resumeWhenBelow(_ threshold: Int, lowWatermark: Int, _ continuation: UnsafeContinuation<Void, any Error>) {
        if closed {
            continuation.resume(throwing: SocketError.closed)
        } else if outboundBytes <= threshold {
            continuation.resume()
        } else {
            writeWaiter = (continuation, lowWatermark)
        }
    }

    func flushOutbound() {
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

}

/// Bytes waiting to be written.
enum Outgoing {
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
