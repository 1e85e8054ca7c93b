import Domain
import NIOCore

/// The last handler of a connection's pipeline: takes the decoded request on the event
/// loop and hands it to `SeedConnection` in one task.
///
/// A request that arrived whole costs one hop off the loop and one back. A streamed
/// content goes through a `ContentPipe`, whose back-pressure pauses reading from the
/// socket while the store catches up.
final class SeedRequestHandler: ChannelInboundHandler {
    typealias InboundIn = SeedRequestPart

    private let connection: SeedConnection
    private let served: @Sendable () -> Void
    /// Loop-confined: whether the connection's request has been taken, and the pipe of
    /// the content being streamed, if any.
    private var started = false
    private var pipe: ContentPipe?

    /// - Parameter served: called once the connection's work is done.
    init(connection: SeedConnection, served: @escaping @Sendable () -> Void) {
        self.connection = connection
        self.served = served
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .complete(let request):
            guard !started else { return }
            started = true
            let (connection, channel, served) = (self.connection, context.channel, self.served)
            Task {
                await connection.serve(request, channel: channel)
                served()
            }
        case .sendHead(let header, let message):
            guard !started else { return }
            started = true
            let pipe = ContentPipe(channel: context.channel)
            self.pipe = pipe
            let (connection, channel, served) = (self.connection, context.channel, self.served)
            Task {
                await connection.serveUpload(header, message, pieces: pipe, channel: channel)
                served()
            }
        case .content(let piece, let isLast):
            pipe?.push(piece, isLast: isLast)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let pipe {
            // The upload's task sees the failure and answers.
            pipe.fail(error)
            return
        }
        guard !started else { return }
        started = true
        if error is SeedDecodeError {
            let (connection, channel, served) = (self.connection, context.channel, self.served)
            Task {
                await connection.serveUndecodable(error, channel: channel)
                served()
            }
        } else {
            context.close(promise: nil)
            served()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The peer closed its side without sending a request: nothing to answer.
        if case ChannelEvent.inputClosed = event, !started {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pipe?.fail(ChannelError.eof)
        if !started {
            // Closed before a request arrived (idle timeout, or a peer that said nothing).
            started = true
            served()
        }
        context.fireChannelInactive()
    }
}
