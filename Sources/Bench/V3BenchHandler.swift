import Adapters
import Domain
import NIOCore
import NIOSSL
import NIOTLS
import SealpostWire

/// One protocol v3 session of the push benchmark, written on the codec: on HELLO it
/// registers its account (the proof signed over the nonce and the certificate's hash),
/// then sends SENDs within the window and acknowledges DELIVERY frames in batches (every
/// `ackBatch` ids, or when the connection is idle: at the end of each read, or `ackDelay`
/// after it when one is set, whichever comes first).
///
/// Request ids: 1 for REGISTER, 2 + sequence for a SEND, the high bit set for an ACK.
final class V3BenchHandler: PushBenchHandler {
    typealias InboundIn = V3Frame
    typealias OutboundOut = ByteBuffer
    typealias Address = AccountID

    private static let registerID: UInt32 = 1
    private static let ackFlag: UInt32 = 0x8000_0000

    private var session: PushBenchSession
    private let account: V3BenchAccount
    private let ackBatch: Int
    private let ackDelay: TimeAmount?
    private var ackTimer: Scheduled<Void>?
    private let ready: EventLoopPromise<AccountID>
    private var context: ChannelHandlerContext?
    private var certificateHash: [UInt8]?
    private var hello: V3Hello?
    /// The readiness promise is fulfilled or failed.
    private var settled = false
    /// `finish()` was called: the connection's end is expected.
    private var finishing = false
    private var targets: [AccountID] = []
    private var pendingAcks: [UInt64] = []
    private var ackCount: UInt32 = 0
    /// ACK requests sent and not answered yet: with the window's SENDs, they must stay
    /// within HELLO's maxInFlight.
    private var acksInFlight = 0
    private var output: ByteBuffer

    init(session: PushBenchSession, account: V3BenchAccount, ackBatch: Int, ackDelay: TimeAmount?, ready: EventLoopPromise<AccountID>) {
        self.session = session
        self.account = account
        self.ackBatch = min(max(ackBatch, 1), V3Request.maxAcksPerRequest)
        self.ackDelay = ackDelay
        self.ready = ready
        self.output = ByteBuffer()
        pendingAcks.reserveCapacity(self.ackBatch)
    }

    var outcome: PushBenchSession.Outcome { session.result }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output = context.channel.allocator.buffer(capacity: 4096)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ackTimer?.cancel()
        self.context = nil
    }

    func learn(targets: [AccountID]) {
        self.targets = targets
    }

    func start(until endNanos: UInt64) {
        session.start(until: endNanos)
        fillWindow()
        flush()
    }

    func finish() {
        finishing = true
        session.stop()
        ackTimer?.cancel()
        flushAcks()
        flush()
        context?.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let selected) = event {
            guard selected == SecureServer.applicationProtocol else {
                fail("the server selected ALPN \(selected ?? "none"), not \(SecureServer.applicationProtocol)")
                return
            }
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            certificateHash = tls?.peerCertificate.flatMap { try? ServerFingerprint.certificateHash(of: $0) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message: V3ServerMessage
        do {
            message = try V3ServerMessage.decode(frame, maxEnvelope: hello?.maxEnvelopeBytes ?? 0)
        } catch {
            fail("a malformed frame from the server: \(error)")
            return
        }
        switch message {
        case .hello(let hello):
            guard self.hello == nil else { return fail("a second HELLO") }
            self.hello = hello
            register(hello)
        case .result(let requestID, let body):
            result(requestID, body)
        case .error(let requestID, let error):
            refused(requestID, error)
        case .delivery(let delivery):
            let now = benchNanos()
            let targets = self.targets
            session.delivered(
                delivery.envelope, now: now,
                isSender: { sender in sender < targets.count && targets[sender] == delivery.sender },
                detail: "; DELIVERY id \(delivery.messageID) from \(delivery.sender) = session "
                    + "\(targets.firstIndex(of: delivery.sender).map(String.init) ?? "?") of \(targets.count) known")
            pendingAcks.append(delivery.messageID)
            if pendingAcks.count >= ackBatch {
                ackTimer?.cancel()
                ackTimer = nil
                flushAcks()
            }
        case .notice, .ignored:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let ackDelay, !pendingAcks.isEmpty, pendingAcks.count < ackBatch {
            if ackTimer == nil {
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                ackTimer = context.eventLoop.scheduleTask(in: ackDelay) { handler.value.ackTimerFired() }
            }
        } else {
            flushAcks()
        }
        fillWindow()
        flush()
    }

    private func ackTimerFired() {
        ackTimer = nil
        flushAcks()
        flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !settled {
            settled = true
            ready.fail(BenchFailure("session \(session.index): the server closed the connection before REGISTER was answered"))
        } else if !finishing {
            session.record(error: "the server closed the connection")
            session.counters.failedSessions.add(1, ordering: .relaxed)
            finishing = true
        }
        session.stop()
        context.fireChannelInactive()
    }

    // MARK: Steps

    private func register(_ hello: V3Hello) {
        guard let certificateHash else { return fail("HELLO before the TLS handshake completed") }
        do {
            let registration = try account.registration(nonce: hello.nonce, certificateHash: certificateHash)
            V3Request.register(registration).write(requestID: Self.registerID, into: &output)
            flush()
        } catch {
            fail("cannot sign the registration: \(error)")
        }
    }

    private func result(_ requestID: UInt32, _ body: ByteBuffer) {
        if requestID & Self.ackFlag != 0 {
            acksInFlight -= 1
            session.counters.acksOutstanding.add(-1, ordering: .relaxed)
        } else if requestID == Self.registerID {
            guard case .registered(let id)? = try? V3Result.decode(answering: .register, body: body) else {
                return fail("a malformed REGISTER result")
            }
            settled = true
            ready.succeed(id)
        } else if requestID >= 2 {
            guard body.readableBytes == 16 else { return fail("a SEND result of \(body.readableBytes) bytes") }
            session.answered(sequence: requestID - 2, accepted: true, now: benchNanos())
        }
    }

    private func refused(_ requestID: UInt32, _ error: V3Error) {
        let name = error.knownCode.map { "\($0)" } ?? "code \(error.code)"
        if requestID & Self.ackFlag != 0 {
            acksInFlight -= 1
            session.counters.acksOutstanding.add(-1, ordering: .relaxed)
            session.record(error: "ACK refused: \(name)")
        } else if requestID == Self.registerID {
            settled = true
            ready.fail(BenchFailure("REGISTER \(account.name) refused: \(name): \(error.message)"))
            context?.close(promise: nil)
        } else if requestID >= 2 {
            session.answered(sequence: requestID - 2, accepted: false, now: benchNanos(), error: "SEND refused: \(name): \(error.message)")
        } else {
            fail("ERROR \(name): \(error.message)")
        }
    }

    private func fillWindow() {
        guard session.running else { return }
        let now = benchNanos()
        while let (sequence, recipient) = session.nextSend(now: now) {
            let recipientBytes = targets[recipient].bytes
            let payloadSize = session.payloadSize
            V3Frame.write(type: V3RequestType.send.rawValue, requestID: sequence + 2, into: &output) { body in
                body.writeBytes(recipientBytes)
                body.writeInteger(UInt32(payloadSize))
                session.writePayload(sequence: sequence, now: now, into: &body)
            }
        }
    }

    /// Sends the pending delivery ids, at most 256 per ACK, while ACKs in flight leave room
    /// in HELLO's maxInFlight beside the window's SENDs; the rest wait for an ACK's answer.
    private func flushAcks() {
        let limit = max(Int(hello?.maxInFlight ?? 0) - session.window - 1, 1)
        var start = 0
        while start < pendingAcks.count, acksInFlight < limit {
            let end = min(start + V3Request.maxAcksPerRequest, pendingAcks.count)
            ackCount &+= 1
            let requestID = Self.ackFlag | (ackCount & ~Self.ackFlag)
            V3Frame.write(type: V3RequestType.ack.rawValue, requestID: requestID, into: &output) { body in
                body.writeInteger(UInt16(end - start))
                for id in pendingAcks[start..<end] { body.writeInteger(id) }
            }
            acksInFlight += 1
            session.counters.acksOutstanding.add(1, ordering: .relaxed)
            session.counters.ackRequests.add(1, ordering: .relaxed)
            session.counters.ackedIDs.add(end - start, ordering: .relaxed)
            start = end
        }
        pendingAcks.removeFirst(start)
    }

    private func flush() {
        guard let context, output.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
        output = context.channel.allocator.buffer(capacity: 4096)
    }

    private func fail(_ why: String) {
        if !settled {
            settled = true
            ready.fail(BenchFailure("session \(session.index): \(why)"))
        } else if !finishing {
            session.record(error: why)
            session.counters.failedSessions.add(1, ordering: .relaxed)
            finishing = true
        }
        session.stop()
        context?.close(promise: nil)
    }
}
