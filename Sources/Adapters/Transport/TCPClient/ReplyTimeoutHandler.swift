import NIOCore
import SeedWire

/// Fails the connection when `IdleStateHandler` reports that nothing was read or written
/// for its interval: the server stopped answering.
final class ReplyTimeoutHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.fireErrorCaught(SeedReplyError.connection(reason: "the server stopped answering (timed out)"))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
