import Application
import Domain
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SealpostWire

/// Push delivery of one session: started once it is authenticated, ended with it.
extension SecureSessionChannelHandler {
    // MARK: Push delivery

    func startDelivery(_ account: AccountID, context: ChannelHandlerContext) {
        guard let router, delivery == nil else { return }
        let delivery = router.useCases.delivery(for: account, window: deliveryWindow)
        self.delivery = delivery
        let channel = context.channel
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let logger = self.logger
        deliveryTask = Task {
            do {
                try await delivery.run { push in
                    // The session ended while the store answered (its task is cancelled before
                    // its loop may close): nothing is handed to a loop that may be gone, where
                    // the task, and its promise, would be dropped.
                    try Task.checkCancellation()
                    // Written on the loop; returns once the frames are written, so a client
                    // that does not read holds the delivery back (with the window as bound).
                    try await loop.flatSubmit {
                        var buffer = channel.allocator.buffer(capacity: 256)
                        defer { handler.value.wrotePush() }
                        switch push {
                        case .envelopes(let envelopes):
                            for envelope in envelopes {
                                var body = channel.allocator.buffer(capacity: envelope.envelope.count)
                                body.writeBytes(envelope.envelope)
                                V3ServerMessage.delivery(V3Delivery(
                                    messageID: envelope.id.rawValue, sender: envelope.sender,
                                    serverTime: envelope.storedAt, envelope: body)).write(into: &buffer)
                            }
                        case .prekeysLow(let count):
                            V3ServerMessage.notice(.prekeysLow(count: UInt16(clamping: count))).write(into: &buffer)
                        case .caughtUp:
                            V3ServerMessage.notice(.caughtUp).write(into: &buffer)
                        }
                        return channel.write(buffer)
                    }.get()
                }
            } catch is CancellationError {
            } catch let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed {
            } catch {
                logger.info("secure: delivery failed; ending the session", metadata: ["error": "\(error)"])
                loop.execute {
                    let handler = handler.value
                    guard let context = handler.context else { return }
                    handler.perform(handler.machine.deliveryFailed("delivery failed; reconnect"), context: context)
                }
            }
        }
    }

    /// A push was written: flushed with whatever else this tick writes.
    func wrotePush() {
        guard let context else { return }
        unflushed = true
        scheduleSettle(context: context)
    }

    /// Stops pushing and gives back what this session held unacknowledged.
    func endDelivery() {
        guard let delivery else { return }
        self.delivery = nil
        let task = deliveryTask
        deliveryTask = nil
        task?.cancel()
        Task {
            await task?.value
            await delivery.end()
        }
    }
}
