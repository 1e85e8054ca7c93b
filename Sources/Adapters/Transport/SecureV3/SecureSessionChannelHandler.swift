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

    private var machine: SecureSessionStateMachine
    private var frames: NIOSingleStepByteToMessageProcessor<V3FrameDecoder>
    private let authTimeout: TimeAmount
    private let logger: Logger
    private var authDeadline: Scheduled<Void>?
    /// A `read` held back while the channel was not writable.
    private var readPending = false
    private var closing = false
    private let router: SecureRequestRouter?
    private let binding: ChannelBinding
    private let deliveryWindow: Int
    /// Set while the handler is in the pipeline; used on the event loop only.
    private var context: ChannelHandlerContext?
    private var delivery: AccountDelivery?
    private var deliveryTask: Task<Void, Never>?
    /// Requests decoded and not started yet: those of one read run together, in one task.
    private var batch: [(requestID: UInt32, request: V3Request, account: AccountID)] = []
    /// Written and not flushed yet. Frames are flushed once per read and once per loop tick
    /// (answers, pushes), not one by one: they share TLS records and socket writes.
    private var unflushed = false
    /// An end-of-tick `settle` is scheduled.
    private var settleScheduled = false

    /// - Parameters:
    ///   - router: runs the requests; `nil` serves the channel alone (every sign-in is refused
    ///     as `unavailable`).
    ///   - certificateHash: the SHA-256 of the server's own certificate (channel binding).
    init(hello: V3Hello, authTimeout: TimeAmount, router: SecureRequestRouter?, certificateHash: [UInt8], logger: Logger) {
        machine = SecureSessionStateMachine(hello: hello)
        self.router = router
        self.binding = ChannelBinding(nonce: hello.nonce, certificateHash: certificateHash)
        self.deliveryWindow = Int(hello.deliveryWindow)
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
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        authDeadline?.cancel()
        authDeadline = nil
        closing = true
        endDelivery()
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
                unflushed = true
            case .authenticate(let requestID, let request):
                signIn(requestID: requestID, request, context: context)
            case .dispatch(let requestID, let request, let account):
                batch.append((requestID, request, account))
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
    private func settle(context: ChannelHandlerContext) {
        runBatch(context: context)
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    private func scheduleSettle(context: ChannelHandlerContext) {
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

    private func signIn(requestID: UInt32, _ request: V3Request, context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        guard let router else {
            perform(machine.authenticationRefused(requestID: requestID, V3Error(.unavailable, message: "this server does not accept accounts")), context: context)
            return
        }
        let binding = self.binding
        Task {
            let outcome = await router.signIn(request, binding: binding)
            loop.execute {
                let handler = handler.value
                guard let context = handler.context, !handler.closing else { return }
                switch outcome {
                case .accepted(let account, let result, let notices):
                    handler.perform(handler.machine.authenticated(requestID: requestID, as: account, result: result, notices: notices), context: context)
                case .refused(let error):
                    handler.perform(handler.machine.authenticationRefused(requestID: requestID, error), context: context)
                }
            }
        }
    }

    /// Runs the requests gathered from one read in one task (concurrently among themselves,
    /// so that SENDs share their stores' commits), then writes their answers in request order
    /// and flushes once.
    private func runBatch(context: ChannelHandlerContext) {
        guard let router, !batch.isEmpty, !closing else { return }
        let requests = batch
        batch = []
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
            loop.execute {
                let handler = handler.value
                guard let context = handler.context, !handler.closing else { return }
                for (requestID, answer) in answers {
                    handler.perform(handler.machine.completed(requestID: requestID, answer), context: context)
                    if handler.closing { return }
                }
            }
        }
    }

    // MARK: Push delivery

    private func startDelivery(_ account: AccountID, context: ChannelHandlerContext) {
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
    private func wrotePush() {
        guard let context else { return }
        unflushed = true
        scheduleSettle(context: context)
    }

    /// Stops pushing and gives back what this session held unacknowledged.
    private func endDelivery() {
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
