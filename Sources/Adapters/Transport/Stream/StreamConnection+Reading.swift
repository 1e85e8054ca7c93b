import Glibc
import NIOCore

// The reading half of `StreamConnection`: bytes off the socket to the handler, and the
// inbound stream that carries a large content from the loop (producer) to a task
// (consumer), with back-pressure: reading pauses above `pieceHighWatermark`.
extension StreamConnection {
    // MARK: Reading (on the loop)

    func readAvailable() {
        var reads = 0
        while wantsRead && reads < 16 {
            reads += 1
            if inbound == nil { inbound = ByteBufferAllocator().buffer(capacity: nextReadSize) }
            let wanted = nextReadSize
            var failure = 0
            let count = inbound!.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { raw -> Int in
                let result = socket.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<min(raw.count, wanted)]))
                if result < 0 { failure = -result; return 0 }
                return result
            }
            if failure != 0 {
                if failure == Int(EAGAIN) || failure == Int(EWOULDBLOCK) { return }
                if failure == Int(EINTR) { continue }
                fail(SocketError.system(call: "read", errno: Int32(failure)))
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
                // Draining: what the peer still sends is not read by anyone.
                inbound!.clear()
                continue
            }
            if count == wanted { nextReadSize = 64 * 1024 }
            handOver()
            if count < wanted { return }  // drained: the next event says when more arrives
        }
    }

    /// Gives what was read to the handler; keeps what it left for the next read.
    func handOver() {
        guard var buffer = inbound else { return }
        inbound = nil  // the handler's slices keep what they need
        handler.received(&buffer, on: self)
        if buffer.readableBytes > 0 && lingerUntil == nil && !closed {
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
        handler.inputEnded(&buffer, on: self)
    }

    // MARK: The inbound stream (producer on the loop, consumer is a task)

    /// From now on the handler passes a content to a task through `pushPiece`, and a task
    /// takes it with `nextPiece`.
    func openInboundStream() {
        streaming = true
    }

    func pushPiece(_ piece: ByteBuffer, isLast: Bool) {
        guard streaming, !piecesFinished, pieceFailure == nil else { return }
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

    func failPieces(_ error: any Error) {
        // Once the last piece arrived, the content is whole whatever happens to the socket.
        guard streaming, !piecesFinished, pieceFailure == nil else { return }
        pieceFailure = error
        if let waiter = pieceWaiter {
            pieceWaiter = nil
            waiter.resume(throwing: error)
        }
    }

    /// The next piece of the inbound stream, or `nil` after the last.
    func nextPiece() async throws -> ByteBuffer? {
        try await withUnsafeThrowingContinuation { continuation in
            onLoop { self.takePiece(continuation) }
        }
    }

    func takePiece(_ continuation: UnsafeContinuation<ByteBuffer?, any Error>) {
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
}
