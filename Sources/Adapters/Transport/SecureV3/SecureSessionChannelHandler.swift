import Application
import Domain
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

    var machine: SecureSessionStateMachine
    var frames: NIOSingleStepByteToMessageProcessor<V3FrameDecoder>
    let authTimeout: TimeAmount
    let logger: Logger
    var authDeadline: Scheduled<Void>?
    /// A `read` held back while the channel was not writable.
    var readPending = false
    var closing = false
    let router: SecureRequestRouter?
    let binding: ChannelBinding
    let deliveryWindow: Int
    /// Set while the handler is in the pipeline; used on the event loop only.
    var context: ChannelHandlerContext?
    var delivery: AccountDelivery?
    var deliveryTask: Task<Void, Never>?
    /// Attachment requests wait here for the session's one attachment worker, which runs
    /// them in the order received (§9: writes are sequential), consecutive writes together.
    var attachmentJobs: AttachmentJobQueue?
    var attachmentTask: Task<Void, Never>?
    /// Attachment bytes the session holds: writes waiting for the worker, and read answers not
    /// yet handed to the socket. Over `attachmentBytesLimit`, the session stops reading from
    /// the socket and the worker waits for the socket, so a session never holds more than a
    /// few chunks whatever the client pipelines.
    var attachmentBytes = 0
    let attachmentBytesLimit = 2 << 20
    let maxAttachmentRead: Int
    /// Requests decoded and not started yet: those of one read run together, in one task.
    var batch: [(requestID: UInt32, request: V3Request, account: AccountID)] = []
    /// Written and not flushed yet. Frames are flushed once per read and once per loop tick
    /// (answers, pushes), not one by one: they share TLS records and socket writes.
    var unflushed = false
    /// An end-of-tick `settle` is scheduled.
    var settleScheduled = false
    /// Reads are paused until then after a refusal with a retry-after (§7.4).
    var readsPausedUntil: NIODeadline?
    var refusalPauseTimer: Scheduled<Void>?
    /// Bytes of the one read already asked for when a pause began: kept unprocessed until it ends.
    var heldReads: [ByteBuffer] = []
    /// Set by a refusal pause, cleared by a batch answered without one: meanwhile requests run
    /// `probationBatch` at a time, each batch once the one before is answered (§7.4).
    var onProbation = false
    var runningBatches = 0

    /// - Parameters:
    ///   - router: runs the requests; `nil` serves the channel alone (every sign-in is refused
    ///     as `unavailable`).
    ///   - certificateHash: the SHA-256 of the server's own certificate (channel binding).
    init(hello: V3Hello, authTimeout: TimeAmount, router: SecureRequestRouter?, certificateHash: [UInt8], logger: Logger) {
        machine = SecureSessionStateMachine(hello: hello)
        self.router = router
        self.binding = ChannelBinding(nonce: hello.nonce, certificateHash: certificateHash)
        self.deliveryWindow = Int(hello.deliveryWindow)
        self.maxAttachmentRead = Int(hello.maxFrameBytes) - Int(V3Request.attachmentReadHeadroom)
        // No buffer limit of its own: the decoder refuses a length over maxFrameBytes from its
        // first four bytes, so at most one incomplete frame and one read wait here.
        frames = NIOSingleStepByteToMessageProcessor(V3FrameDecoder(maxLength: hello.maxFrameBytes))
        self.authTimeout = authTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The handler is added while the accepted channel is set up: the deadline runs from
        // the accept, through the TLS handshake, to authentication.
        self.context = context
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
        endDelivery()
        endAttachments()
        endRefusalPause()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        authDeadline?.cancel()
        authDeadline = nil
        closing = true
        endDelivery()
        endAttachments()
        endRefusalPause()
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
        guard readsPausedUntil == nil else {
            heldReads.append(buffer)
            return
        }
        process(buffer, context: context)
    }

    /// Splits `buffer` into frames and feeds them to the state machine.
    func process(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        do {
            try frames.process(buffer: buffer) { frame in
                guard !closing else { return }
                perform(machine.received(frame), context: context)
            }
        } catch {
            perform(machine.streamFailed(error), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        settle(context: context)
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS failures (garbage instead of a ClientHello, a refused version) and resets end
        // up here: the session is over, the server is not.
        logger.debug("secure: connection failed: \(error)")
        close(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if readsPausedUntil == nil, context.channel.isWritable, attachmentBytes <= attachmentBytesLimit {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Issues the `read` held back, once the channel is writable, the attachment bytes are
    /// under their limit again and no refusal pause runs.
    func resumeReading(context: ChannelHandlerContext) {
        if readPending, readsPausedUntil == nil, context.channel.isWritable, attachmentBytes <= attachmentBytesLimit {
            readPending = false
            context.read()
        }
    }

    func timedOut(channel: any Channel) {
        authDeadline = nil
        guard !closing else { return }
        logger.debug("secure: closing a session that did not authenticate in time")
        for action in machine.authenticationTimedOut() where action == .close {
            closing = true
            channel.close(promise: nil)
        }
    }

    func perform(_ actions: [SecureSessionAction], context: ChannelHandlerContext) {
        var lastWrite: EventLoopFuture<Void>?
        for action in actions {
            switch action {
            case .send(let message):
                var buffer = context.channel.allocator.buffer(capacity: 64)
                message.write(into: &buffer)
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.write(wrapOutboundOut(buffer), promise: promise)
                lastWrite = promise.futureResult
                unflushed = true
            case .authenticate(let requestID, let request):
                signIn(requestID: requestID, request, context: context)
            case .dispatch(let requestID, let request, let account):
                if request.type.isAttachment, let router {
                    // Attachment requests go to the session's one worker, in order (§9).
                    enqueueAttachment(AttachmentJob(requestID: requestID, request: request, account: account), router: router, context: context)
                } else {
                    batch.append((requestID, request, account))
                }
            case .startDelivery(let account):
                startDelivery(account, context: context)
            case .close:
                close(context: context, after: lastWrite)
                return
            }
        }
        if unflushed || !batch.isEmpty { scheduleSettle(context: context) }
    }

    /// Starts the requests gathered so far and flushes what was written. Runs when a read
    /// completes, and at the end of a loop tick that wrote or gathered something.
    func settle(context: ChannelHandlerContext) {
        runBatch(context: context)
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    func scheduleSettle(context: ChannelHandlerContext) {
        guard !settleScheduled else { return }
        settleScheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = handler.value
            handler.settleScheduled = false
            guard let context = handler.context, !handler.closing else { return }
            handler.settle(context: context)
        }
    }

    // MARK: Requests

    func signIn(requestID: UInt32, _ request: V3Request, context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        guard let router else {
            perform(machine.authenticationRefused(requestID: requestID, V3Error(.unavailable, message: "this server does not accept accounts")), context: context)
            return
        }
        let binding = self.binding
        let source = context.channel.remoteAddress?.ipAddress
        Task {
            let outcome = await router.signIn(request, binding: binding, source: source)
            loop.execute {
                let handler = handler.value
                guard let context = handler.context, !handler.closing else { return }
                switch outcome {
                case .accepted(let account, let result, let notices):
                    handler.perform(handler.machine.authenticated(requestID: requestID, as: account, result: result, notices: notices), context: context)
                case .refused(let error):
                    handler.perform(handler.machine.authenticationRefused(requestID: requestID, error), context: context)
                    if let pause = SecureSessionChannelHandler.refusalPause(after: [(requestID, .error(requestID: requestID, error))]) {
                        handler.pauseReading(for: pause, context: context)
                    }
                }
            }
        }
    }

    /// Runs the requests gathered from one read in one task (concurrently among themselves,
    /// so that SENDs share their stores' commits), then writes their answers in request order
    /// and flushes once. A refusal with a retry-after pauses the session's reads (§7.4).
    func runBatch(context: ChannelHandlerContext) {
        guard let router, !batch.isEmpty, !closing else { return }
        if onProbation, runningBatches > 0 || readsPausedUntil != nil { return }
        let count = onProbation ? min(batch.count, Self.probationBatch) : batch.count
        let requests = Array(batch.prefix(count))
        batch.removeFirst(count)
        runningBatches += 1
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let delivery = self.delivery
        Task {
            let answers: [(UInt32, V3ServerMessage)]
            if requests.count == 1, let only = requests.first {
                answers = [(only.requestID, await router.answer(only.request, requestID: only.requestID, account: only.account, delivery: delivery))]
            } else {
                answers = await withTaskGroup(of: (Int, V3ServerMessage).self) { group in
                    for (index, item) in requests.enumerated() {
                        group.addTask {
                            (index, await router.answer(item.request, requestID: item.requestID, account: item.account, delivery: delivery))
                        }
                    }
                    var answers = [(UInt32, V3ServerMessage)?](repeating: nil, count: requests.count)
                    for await (index, answer) in group { answers[index] = (requests[index].requestID, answer) }
                    return answers.compactMap { $0 }
                }
            }
            let pause = SecureSessionChannelHandler.refusalPause(after: answers)
            loop.execute {
                let handler = handler.value
                handler.runningBatches -= 1
                guard let context = handler.context, !handler.closing else { return }
                for (requestID, answer) in answers {
                    handler.perform(handler.machine.completed(requestID: requestID, answer), context: context)
                    if handler.closing { return }
                }
                handler.onProbation = pause != nil
                if let pause { handler.pauseReading(for: pause, context: context) }
                // Requests held back by probation run now, or when the pause ends.
                if !handler.batch.isEmpty { handler.scheduleSettle(context: context) }
            }
        }
    }

    /// Closes the session (close_notify, then the socket); when `lastWrite` is given, once
    /// it has gone out (or failed), so a final ERROR reaches the client.
    func close(context: ChannelHandlerContext, after lastWrite: EventLoopFuture<Void>? = nil) {
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
