import NIOCore

// The content of a streamed send on its way from the loop (producer) to the request's task
// (consumer), with back-pressure: reading pauses above `pieceHighWatermark`.
extension SocketConnection {
    // MARK: Content pieces (producer on the loop, consumer is the task)

    func pushPiece(_ piece: ByteBuffer, isLast: Bool) {
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

    func failPieces(_ error: any Error) {
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
