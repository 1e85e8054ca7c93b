import CLinuxNet
import Glibc
import NIOCore

// The writing half of `StreamConnection`: replies queued by the task, flushed on the loop
// with back-pressure, delivery confirmed by the peer's acknowledgements.
extension StreamConnection {
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
            onLoop {
                guard !self.closed else {
                    continuation.resume(throwing: SocketError.closed)
                    return
                }
                if !self.noDelay {
                    // A reply in several pieces: its last small piece must not wait for the
                    // peer's (possibly delayed) acknowledgement of the previous one.
                    self.noDelay = true
                    let code = self.socket.setNoDelay()
                    guard code == 0 else {
                        let failure = SocketError.system(call: "setsockopt(TCP_NODELAY)", errno: code)
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
            onLoop { self.resumeWhenBelow(0, lowWatermark: 0, continuation) }
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
            onLoop {
                guard !self.closed, self.outbound.isEmpty else {
                    continuation.resume(throwing: SocketError.closed)
                    return
                }
                // Not checked on purpose: a peer that read everything and reset before this
                // call makes it fail (ENOTCONN), yet it was served; the acknowledgement
                // count below decides.
                _ = self.socket.shutdownOutput()
                self.confirmWaiter = continuation
                self.checkDelivery()
                self.updateInterest()
            }
        }
    }

    func checkDelivery() {
        guard let waiter = confirmWaiter else { return }
        let unacknowledged = socket.unacknowledgedBytes()
        // Our FIN (sent by `confirmDelivery`) takes one sequence number: one unacknowledged
        // means every byte of the reply was acknowledged and only the FIN is in flight, as
        // when the peer read the whole reply and closed before our FIN reached it.
        if unacknowledged >= 0 && unacknowledged <= 1 {
            confirmWaiter = nil
            waiter.resume()
        } else if unacknowledged < 0 {
            fail(SocketError.system(call: "ioctl(SIOCOUTQ)", errno: Int32(-unacknowledged)))
        }
    }

    /// Writes `bytes` and closes once they are out (or the peer is gone).
    func writeAndClose(_ bytes: ByteBuffer) {
        onLoop {
            guard !self.closed else { return }
            self.queue(.buffer(bytes))
            self.flushOutbound()
            self.close()
        }
    }

    /// Closes once queued bytes are out. A peer still sending its request is half-closed
    /// and drained for a moment first, so what we wrote is read rather than reset.
    func close() {
        onLoop {
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
        if handler.inputComplete || inputClosed || lingerUntil != nil {
            hardClose()
            return
        }
        // Unread request bytes: closing now would reset the connection and could destroy
        // the reply in the peer's receive buffer.
        if socket.shutdownOutput() != 0 {
            hardClose()
            return
        }
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
            var failure = 0
            let written = outbound[outbound.startIndex].withUnsafeBytes { raw -> Int in
                let result = socket.send(raw)
                if result < 0 { failure = -result; return 0 }
                return result
            }
            if failure != 0 {
                if failure == Int(EAGAIN) || failure == Int(EWOULDBLOCK) { break }
                if failure == Int(EINTR) { continue }
                fail(SocketError.system(call: "send", errno: Int32(failure)))
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
