import Logging
import NIOCore

/// Closes a connection when `IdleStateHandler` reports it idle.
final class IdleTimeoutHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            logger.info("closing idle connection", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
