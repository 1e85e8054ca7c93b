import NIOCore
import SealpostWire

/// The refusal pause (docs/protocol-v3.md §7.4): a session whose requests are refused with a
/// retry-after stops being read until then, at most `refusalPauseLimit`. What it sent
/// meanwhile waits in the kernel's socket buffer, where it costs the server no CPU, and is
/// answered once the pause ends; the session stays open and its pushes go on. The bytes of a
/// read already asked for when the pause began (one at most) are held, unprocessed, until then.
/// After a pause the session is on probation until a batch of its requests is answered
/// without a refusal: its requests run `probationBatch` at a time, so that a deep pipeline of
/// refused requests is answered a few per retry-after, not all at once.
extension SecureSessionChannelHandler {
    /// The longest a session's reads are paused for one refusal: a retry-after of minutes
    /// (a spent prekey-fetch bucket) must not keep its other requests and ACKs waiting that long.
    static let refusalPauseLimit = TimeAmount.seconds(1)

    /// How many requests a session on probation runs at once: what a flooder that pipelines
    /// past its refusals costs the server per retry-after, however deep its pipeline.
    static let probationBatch = 16

    /// The pause that `answers` call for: the shortest retry-after among their `rateLimited`
    /// and `inboxFull` refusals, capped at `refusalPauseLimit`; `nil` when none was refused.
    static func refusalPause(after answers: [(UInt32, V3ServerMessage)]) -> TimeAmount? {
        var shortest: UInt32?
        for (_, answer) in answers {
            guard case .error(_, let error) = answer,
                  error.knownCode == .rateLimited || error.knownCode == .inboxFull else { continue }
            shortest = min(shortest ?? .max, error.retryAfterMilliseconds)
        }
        guard let shortest else { return nil }
        return min(.milliseconds(Int64(max(1, shortest))), refusalPauseLimit)
    }

    /// Stops reading until `pause` has passed (or longer, if a pause already runs past it).
    func pauseReading(for pause: TimeAmount, context: ChannelHandlerContext) {
        let ends = NIODeadline.now() + pause
        if let current = readsPausedUntil, current >= ends { return }
        readsPausedUntil = ends
        refusalPauseTimer?.cancel()
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        refusalPauseTimer = context.eventLoop.scheduleTask(deadline: ends) {
            let handler = handler.value
            handler.refusalPauseTimer = nil
            handler.readsPausedUntil = nil
            guard let context = handler.context, !handler.closing else { return }
            let held = handler.heldReads
            handler.heldReads = []
            for buffer in held where !handler.closing { handler.process(buffer, context: context) }
            if !handler.closing { handler.settle(context: context) }
            handler.resumeReading(context: context)
        }
    }

    /// Cancels a running pause's timer when the session ends.
    func endRefusalPause() {
        refusalPauseTimer?.cancel()
        refusalPauseTimer = nil
        heldReads = []
    }
}
