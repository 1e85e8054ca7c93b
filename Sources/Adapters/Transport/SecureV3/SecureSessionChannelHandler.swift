import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SealpostWire

/// One secure session's plaintext side, behind the `NIOSSLServerHandler`: it splits the byte
/// stream into frames (the length checked before any body is gathered), feeds the session's
/// `SecureSessionStateMachine`, and carries out what it decides. It owns the timers (the
/// authentication deadline from the moment TCP was accepted) and back-pressure: while the
/// channel cannot take more writes, it stops asking the socket for more reads, so a client
/// that sends without reading cannot grow the server's memory.
final class SecureSessionChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: SecureSessionStateMachine
    private var frames: NIOSingleStepByteToMessageProcessor<V3FrameDecoder>
    private let authTimeout: TimeAmount
    private let logger: Logger
    private var authDeadline: Scheduled<Void>?
    /// A `read` held back while the channel was not writable.
    private var readPending = false
    private var closing = false

    init(hello: V3Hello, authTimeout: TimeAmount, logger: Logger) {
        machine = SecureSessionStateMachine(hello: hello)
        // No buffer limit of its own: the decoder refuses a length over maxFrameBytes from its
        // first four bytes, so at most one incomplete frame and one read wait here.
        frames = NIOSingleStepByteToMessageProcessor(V3FrameDecoder(maxLength: hello.maxFrameBytes))
        self.authTimeout = authTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The handler is added while the accepted channel is set up: the deadline runs from
        // the accept, through the TLS handshake, to authentication.
        let channel = context.channel
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        authDeadline = loop.scheduleTask(in: authTimeout) {
            handler.value.timedOut(channel: channel)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        authDeadline?.cancel()
        authDeadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        authDeadline?.cancel()
        authDeadline = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiatedProtocol) = event {
            if negotiatedProtocol != SecureServer.applicationProtocol {
                logger.debug("secure: refused a handshake without ALPN \(SecureServer.applicationProtocol)")
            }
            perform(machine.handshakeCompleted(negotiatedProtocol: negotiatedProtocol), context: context)
        } else if event is IdleStateHandler.IdleStateEvent {
            logger.debug("secure: closing an idle session")
            close(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let buffer = unwrapInboundIn(data)
        do {
            try frames.process(buffer: buffer) { frame in
                guard !closing else { return }
                perform(machine.received(frame), context: context)
            }
        } catch {
            perform(machine.streamFailed(error), context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS failures (garbage instead of a ClientHello, a refused version) and resets end
        // up here: the session is over, the server is not.
        logger.debug("secure: connection failed: \(error)")
        close(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    private func timedOut(channel: any Channel) {
        authDeadline = nil
        guard !closing else { return }
        logger.debug("secure: closing a session that did not authenticate in time")
        for action in machine.authenticationTimedOut() where action == .close {
            closing = true
            channel.close(promise: nil)
        }
    }

    private func perform(_ actions: [SecureSessionAction], context: ChannelHandlerContext) {
        var lastWrite: EventLoopFuture<Void>?
        for action in actions {
            switch action {
            case .send(let message):
                var buffer = context.channel.allocator.buffer(capacity: 64)
                message.write(into: &buffer)
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.write(wrapOutboundOut(buffer), promise: promise)
                lastWrite = promise.futureResult
            case .close:
                close(context: context, after: lastWrite)
                return
            }
        }
        if lastWrite != nil { context.flush() }
    }

    /// Closes the session (close_notify, then the socket); when `lastWrite` is given, once
    /// it has gone out (or failed), so a final ERROR reaches the client.
    private func close(context: ChannelHandlerContext, after lastWrite: EventLoopFuture<Void>? = nil) {
        guard !closing else { return }
        closing = true
        authDeadline?.cancel()
        authDeadline = nil
        guard let lastWrite else {
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        context.flush()
        lastWrite.whenComplete { _ in channel.close(promise: nil) }
    }
}
