import NIOCore

/// One MQTT 3.1.1 session of the push benchmark, the broker's side of the comparison:
/// CONNECT with a persistent session (clean session false) under its own client id,
/// SUBSCRIBE to its own topic at QoS 1, then QoS 1 PUBLISHes to the others' topics within
/// the window, each counted accepted on its PUBACK; every PUBLISH pushed to it is answered
/// with a PUBACK, written at once and flushed at the end of the read. PINGREQ keeps the
/// session alive past the keep-alive interval.
///
/// Packet ids: 1 for SUBSCRIBE; publishes take the next id from 2 up that is not in flight.
final class MQTTBenchHandler: PushBenchHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer
    typealias Address = [UInt8]

    static let keepAliveSeconds: UInt16 = 60
    private static let subscribeID: UInt16 = 1

    private var session: PushBenchSession
    private let clientID: String
    private let topic: [UInt8]
    private let ready: EventLoopPromise<[UInt8]>
    private var context: ChannelHandlerContext?
    private var settled = false
    private var finishing = false
    private var targets: [[UInt8]] = []
    /// Publishes waiting for their PUBACK: packet id to sequence.
    private var inFlight: [UInt16: UInt32] = [:]
    private var nextPacketID: UInt16 = 2
    private var keepAlive: RepeatedTask?
    private var output: ByteBuffer

    init(session: PushBenchSession, clientID: String, ready: EventLoopPromise<[UInt8]>) {
        self.session = session
        self.clientID = clientID
        self.topic = Array("sealpost-bench/\(clientID)".utf8)
        self.ready = ready
        self.output = ByteBuffer()
        inFlight.reserveCapacity(session.window * 2)
    }

    var outcome: PushBenchSession.Outcome { session.result }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output = context.channel.allocator.buffer(capacity: 4096)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        keepAlive?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // TLS holds this until its handshake is done.
        MQTTPacket.connect(clientID: clientID, cleanSession: false, keepAliveSeconds: Self.keepAliveSeconds).write(into: &output)
        flush()
        let interval = TimeAmount.seconds(Int64(Self.keepAliveSeconds) / 2)
        // The task holds the handler until it is cancelled (on removal or inactivity).
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepAlive = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            handler.value.ping()
        }
        context.fireChannelActive()
    }

    func learn(targets: [[UInt8]]) {
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
        keepAlive?.cancel()
        MQTTPacket.disconnect.write(into: &output)
        flush()
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .connack(_, let code):
            guard code == 0 else { return fail("CONNACK refused the connection (return code \(code))") }
            MQTTPacket.subscribe(packetID: Self.subscribeID, topicFilter: String(decoding: topic, as: UTF8.self), qos: 1).write(into: &output)
        case .suback(let packetID, let codes):
            guard packetID == Self.subscribeID, codes == [1] else { return fail("SUBACK \(packetID) granted \(codes), not QoS 1") }
            settled = true
            ready.succeed(topic)
        case .publish(let publish):
            let now = benchNanos()
            session.delivered(publish.payload, now: now)
            guard publish.qos == 1, let packetID = publish.packetID else { return fail("a PUBLISH pushed at QoS \(publish.qos)") }
            MQTTPacket.writePuback(packetID: packetID, into: &output)
        case .puback(let packetID):
            guard let sequence = inFlight.removeValue(forKey: packetID) else { return fail("PUBACK for packet \(packetID), not in flight") }
            session.answered(sequence: sequence, accepted: true, now: benchNanos())
        case .pingresp:
            break
        case .connect, .subscribe, .pingreq, .disconnect:
            fail("a client-to-server packet from the broker")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        fillWindow()
        flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAlive?.cancel()
        if !settled {
            settled = true
            ready.fail(BenchFailure("session \(session.index): the broker closed the connection before SUBACK"))
        } else if !finishing {
            session.record(error: "the broker closed the connection")
            session.counters.failedSessions.add(1, ordering: .relaxed)
            finishing = true
        }
        session.stop()
        context.fireChannelInactive()
    }

    private func ping() {
        MQTTPacket.pingreq.write(into: &output)
        flush()
    }

    private func fillWindow() {
        guard session.running else { return }
        let now = benchNanos()
        while let (sequence, recipient) = session.nextSend(now: now) {
            var packetID = nextPacketID
            while inFlight[packetID] != nil { packetID = packetID == .max ? 2 : packetID + 1 }
            nextPacketID = packetID == .max ? 2 : packetID + 1
            inFlight[packetID] = sequence
            MQTTPacket.writePublishHead(topic: targets[recipient], qos: 1, packetID: packetID, payloadLength: session.payloadSize, into: &output)
            session.writePayload(sequence: sequence, now: now, into: &output)
        }
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
