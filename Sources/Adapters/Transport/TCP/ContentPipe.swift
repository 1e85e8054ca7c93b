import NIOCore
import Synchronization

/// Carries a streamed content from the event loop (producer) to the task that stores it
/// (consumer), with back-pressure: when more than `highWatermark` bytes wait, the channel
/// stops reading from the socket; it reads again once the consumer is below `lowWatermark`.
final class ContentPipe: Sendable {
    typealias Waiter = CheckedContinuation<(ByteBuffer?, Bool), any Error>

    private struct State {
        /// Pieces not yet taken; a ring, so taken pieces are released at once.
        var pieces = CircularBuffer<ByteBuffer>(initialCapacity: 16)
        var bytes = 0
        var finished = false
        var failure: (any Error)?
        var waiter: Waiter?
        var paused = false
    }

    private let state = Mutex(State())
    private let channel: any Channel
    private let highWatermark: Int
    private let lowWatermark: Int

    init(channel: any Channel, highWatermark: Int = 1 << 20, lowWatermark: Int = 256 * 1024) {
        self.channel = channel
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    /// Producer: the next piece; `isLast` ends the content. Called on the event loop.
    func push(_ piece: ByteBuffer, isLast: Bool) {
        let (waiter, pause): (Waiter?, Bool) = state.withLock { state in
            guard !state.finished, state.failure == nil else { return (nil, false) }
            state.finished = isLast
            if let waiter = state.waiter {
                state.waiter = nil
                // Hand the piece straight over; the end is seen on the next call.
                return (waiter, false)
            }
            state.pieces.append(piece)
            state.bytes += piece.readableBytes
            if state.bytes > highWatermark && !state.paused && !state.finished {
                state.paused = true
                return (nil, true)
            }
            return (nil, false)
        }
        if let waiter { waiter.resume(returning: (piece, false)) }
        if pause { channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    /// Producer: the content will not complete (decode error, connection lost).
    func fail(_ error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard !state.finished, state.failure == nil else { return nil }
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: error)
    }

    /// Consumer: the next piece, or `nil` after the last one.
    func next() async throws -> ByteBuffer? {
        let (piece, resume) = try await withCheckedThrowingContinuation { (continuation: Waiter) in
            let outcome: Result<(ByteBuffer?, Bool), any Error>? = state.withLock { state in
                if let piece = state.pieces.popFirst() {
                    state.bytes -= piece.readableBytes
                    var resume = false
                    if state.paused && state.bytes < lowWatermark {
                        state.paused = false
                        resume = true
                    }
                    return .success((piece, resume))
                }
                if let failure = state.failure { return .failure(failure) }
                if state.finished { return .success((nil, false)) }
                state.waiter = continuation
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
        if resume { channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
        return piece
    }
}
