import Domain
import Logging
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
    private let requestDeadline: TimeAmount
    private let logger: Logger
    private let served: @Sendable () -> Void
    /// Loop-confined: a complete request other than a pull is being worked on; the
    /// peer owes us nothing, so silence is not idleness.
    private var working = false
    private var deadline: Scheduled<Void>?
    /// Loop-confined: whether the connection's request has been taken, and the pipe of
    /// the content being streamed, if any.
    private var started = false
    private var pipe: ContentPipe?

    /// - Parameter served: called once the connection's work is done.
    init(connection: SeedConnection, requestDeadline: TimeAmount, logger: Logger, served: @escaping @Sendable () -> Void) {
        self.connection = connection
        self.requestDeadline = requestDeadline
        self.logger = logger
        self.served = served
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // However slowly the bytes come, the request must be in by the deadline.
        let channel = context.channel
        let logger = self.logger
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestDeadline) { [self] in
            guard !started else { return }
            logger.info("closing connection: no request within the deadline", metadata: ["peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .complete(let request):
            guard !started else { return }
            started = true
            deadline?.cancel()
            if case .pull = request {} else { working = true }
            let (connection, channel, served) = (self.connection, context.channel, self.served)
            Task {
                await connection.serve(request, channel: channel)
                served()
            }
        case .sendHead(let header, let message):
            guard !started else { return }
            started = true
            deadline?.cancel()
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
        if event is IdleStateHandler.IdleStateEvent {
            // No read and no completed write for the idle timeout. While the server itself
            // works on a request (a slow store), that is not the peer's fault.
            if !working {
                logger.info("closing idle connection", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
                context.close(promise: nil)
            }
            return
        }
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
