import Application
import NIOCore

/// Fails the connection when `IdleStateHandler` reports that nothing was read or written
/// for its interval: the server stopped answering.
final class ReplyTimeoutHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let request: String

    init(request: String) {
        self.request = request
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.fireErrorCaught(ClientError.transport(request: request, reason: "the server stopped answering (timed out)"))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
