import Adapters
import Domain
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SealpostWire
import Synchronization

/// One run of the push benchmark (`sealpost bench --protocol v3` or `--protocol mqtt`):
/// `sessions` persistent TLS sessions, each sending `payload`-byte messages to random others
/// with at most `window` unanswered, for `seconds`, while every recipient is connected and
/// acknowledging. The same workload drives protocol v3 on a Sealpost server and MQTT 3.1.1
/// at QoS 1 on a broker, so their figures compare: accepted/s, delivered/s, send→push
/// latency, the server's CPU per message and peak RSS, every message checked delivered once.
public struct PushBenchRun: Sendable {
    /// The server under test.
    public enum Target: Sendable {
        /// A Sealpost server's protocol v3 port, its key pinned.
        case sealpost(host: String, port: Int, fingerprint: ServerFingerprint)
        /// An MQTT 3.1.1 broker over TLS, its certificate verified against `caFile` (PEM).
        case mqtt(host: String, port: Int, caFile: String)
    }

    public var target: Target
    public var sessions: Int
    public var window: Int
    public var seconds: Double
    public var payload: Int
    /// v3 only: delivery ids per ACK at most (an ACK also goes at the end of each read).
    public var ackBatch: Int
    /// v3 only: when set, an ACK of fewer than `ackBatch` ids waits this long after a read
    /// ends, for more ids to join it.
    public var ackDelayMicros: Int
    /// The server's process, for its CPU time and peak RSS.
    public var serverPid: Int32?
    /// Event loop threads for the client side.
    public var threads: Int

    public static let minimumPayload = PushBenchSession.headerSize

    public init(target: Target, sessions: Int = 100, window: Int = 16, seconds: Double = 10, payload: Int = 100,
                ackBatch: Int = 32, ackDelayMicros: Int = 0, serverPid: Int32? = nil, threads: Int = System.coreCount) {
        self.target = target
        self.sessions = sessions
        self.window = window
        self.seconds = seconds
        self.payload = payload
        self.ackBatch = ackBatch
        self.ackDelayMicros = ackDelayMicros
        self.serverPid = serverPid
        self.threads = threads
    }

    /// Runs the benchmark, printing its figures; returns whether every accepted message
    /// arrived exactly once, without errors.
    public func run() throws -> Bool {
        let report = try measure()
        for line in report.lines(protocolName: protocolName) { print(line) }
        return report.ok
    }

    var protocolName: String {
        switch target {
        case .sealpost: "v3"
        case .mqtt: "mqtt"
        }
    }

    /// Runs the benchmark and returns its figures, passing progress lines (setup, drain) to
    /// `progress`. It blocks its thread until the run is over.
    func measure(progress: (String) -> Void = { print($0) }) throws -> PushBenchReport {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(threads, 1))
        defer { try? group.syncShutdownGracefully() }
        switch target {
        case .sealpost(let host, let port, let fingerprint):
            return try runSealpost(group: group, host: host, port: port, fingerprint: fingerprint, progress: progress)
        case .mqtt(let host, let port, let caFile):
            return try runMQTT(group: group, host: host, port: port, caFile: caFile, progress: progress)
        }
    }

    // MARK: The two protocols

    private func runSealpost(group: any EventLoopGroup, host: String, port: Int, fingerprint: ServerFingerprint, progress: (String) -> Void) throws -> PushBenchReport {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.applicationProtocols = [SecureServer.applicationProtocol]
        // The key is pinned: the callback decides, no CA is consulted.
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates([])
        let context = try NIOSSLContext(configuration: tls)
        let tag = Self.runTag()
        let start = benchMicros()
        let accounts = try (0..<sessions).map { try V3BenchAccount(name: "bench-\(tag)-\($0)") }
        progress("setup: \(sessions) accounts' keys made in \(benchFormat(Double(benchMicros() - start) / 1e6, 2))s")
        let ackBatch = self.ackBatch
        let ackDelay: TimeAmount? = ackDelayMicros > 0 ? .microseconds(Int64(ackDelayMicros)) : nil
        return try drive(group: group, host: host, port: port, handlerType: V3BenchHandler.self, progress: progress) { channel, session, ready in
            let verify: NIOSSLCustomVerificationCallback = { certificates, promise in
                let seen = certificates.first.flatMap { try? ServerFingerprint(of: $0) }
                promise.succeed(seen == fingerprint ? .certificateVerified : .failed)
            }
            let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: nil, customVerificationCallback: verify)
            try channel.pipeline.syncOperations.addHandler(tlsHandler)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(V3FrameDecoder()))
            return V3BenchHandler(session: session, account: accounts[session.index], ackBatch: ackBatch, ackDelay: ackDelay, ready: ready)
        }
    }

    private func runMQTT(group: any EventLoopGroup, host: String, port: Int, caFile: String, progress: (String) -> Void) throws -> PushBenchReport {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.certificateVerification = .fullVerification
        let context = try NIOSSLContext(configuration: tls)
        let tag = Self.runTag()
        // An IP address is not sent as SNI; the certificate's IP names are checked instead.
        let hostname: String? = Self.isIPAddress(host) ? nil : host
        return try drive(group: group, host: host, port: port, handlerType: MQTTBenchHandler.self, progress: progress) { channel, session, ready in
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: hostname))
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder()))
            return MQTTBenchHandler(session: session, clientID: "bench-\(tag)-\(session.index)", ready: ready)
        }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    private static func runTag() -> String {
        String(UInt64(Date().timeIntervalSince1970 * 1e6) % 0xFF_FFFF, radix: 16)
    }

    // MARK: One run, either protocol

    /// Connects every session (`makeHandler` builds its pipeline on its channel's loop and
    /// returns its last handler), waits until all are set up, starts them together, waits
    /// `seconds` and then for the run to drain, and gathers the figures.
    private func drive<Handler: PushBenchHandler>(
        group: any EventLoopGroup, host: String, port: Int, handlerType: Handler.Type, progress: (String) -> Void,
        makeHandler: @escaping @Sendable (any Channel, PushBenchSession, EventLoopPromise<Handler.Address>) throws -> Handler
    ) throws -> PushBenchReport {
        let counters = PushBenchCounters()
        let seed = UInt64(Date().timeIntervalSince1970 * 1e6)
        let setupStart = benchMicros()
        var handlers: [EventLoopFuture<NIOLoopBound<Handler>>] = []
        var readies: [EventLoopFuture<Handler.Address>] = []
        var channels: [EventLoopFuture<any Channel>] = []
        let (sessions, window, payload) = (self.sessions, self.window, self.payload)
        for index in 0..<sessions {
            let loop = group.next()
            let ready = loop.makePromise(of: Handler.Address.self)
            let handler = loop.makePromise(of: NIOLoopBound<Handler>.self)
            let timeout = loop.scheduleTask(in: .seconds(60)) {
                ready.fail(BenchFailure("session \(index) was not set up within 60 s"))
            }
            ready.futureResult.whenComplete { _ in timeout.cancel() }
            let channel = ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let session = PushBenchSession(
                            index: index, sessions: sessions, window: window, payloadSize: payload, seed: seed, counters: counters)
                        let last = try makeHandler(channel, session, ready)
                        try channel.pipeline.syncOperations.addHandler(last)
                        handler.succeed(NIOLoopBound(last, eventLoop: channel.eventLoop))
                    }
                }
                .connect(host: host, port: port)
            channel.whenFailure { error in
                handler.fail(error)
                ready.fail(error)
            }
            channels.append(channel)
            handlers.append(handler.futureResult)
            readies.append(ready.futureResult)
        }
        let loop = group.next()
        let addresses = try EventLoopFuture.whenAllSucceed(readies, on: loop).wait()
        let bound = try EventLoopFuture.whenAllSucceed(handlers, on: loop).wait()
        let open = try EventLoopFuture.whenAllSucceed(channels, on: loop).wait()
        progress("setup: \(sessions) sessions connected and ready in \(benchFormat(Double(benchMicros() - setupStart) / 1e6, 2))s")

        // Every session knows the others before any starts: one started on another loop may
        // push to a session that has not yet run its `start`, whose DELIVERY check would
        // then find no sender to match and count the message as corrupted (and lost).
        try EventLoopFuture.andAllSucceed(
            zip(bound, open).map { handler, channel in channel.eventLoop.submit { handler.value.learn(targets: addresses) } },
            on: loop
        ).wait()

        let cpuBefore = serverPid.flatMap(benchCPUMicros)
        let clientBefore = benchCPUMicros(pid: getpid())
        let start = benchNanos()
        let end = start + UInt64(seconds * 1e9)
        for (handler, channel) in zip(bound, open) {
            channel.eventLoop.execute { handler.value.start(until: end) }
        }
        Thread.sleep(forTimeInterval: seconds)
        // Then until every answer and every accepted message is in, or 30 s more at most.
        let drainDeadline = benchNanos() + 30_000_000_000
        var drainedTwice = 0
        while drainedTwice < 2, benchNanos() < drainDeadline {
            drainedTwice = counters.drained ? drainedTwice + 1 : 0
            Thread.sleep(forTimeInterval: 0.01)
        }
        let drainSeconds = Double(benchNanos() - end) / 1e9
        let cpuAfter = serverPid.flatMap(benchCPUMicros)
        let clientAfter = benchCPUMicros(pid: getpid())
        let rss = serverPid.flatMap(benchPeakRSSKiB)
        progress("drain: \(benchFormat(max(drainSeconds, 0), 2))s after the end of sending\(counters.drained ? "" : " (gave up waiting: not drained in 30 s)")")

        var outcomes: [PushBenchSession.Outcome] = []
        for (handler, channel) in zip(bound, open) {
            outcomes.append(try channel.eventLoop.submit { handler.value.outcome }.wait())
            channel.eventLoop.execute { handler.value.finish() }
        }
        for channel in open { try? channel.closeFuture.wait() }
        let cpu = cpuBefore.flatMap { before in cpuAfter.map { $0 - before } }
        let client = clientBefore.flatMap { before in clientAfter.map { $0 - before } }
        return PushBenchReport(
            outcomes: outcomes, seconds: seconds, serverCPUMicros: cpu, serverPeakRSSKiB: rss, clientCPUMicros: client,
            ackRequests: counters.ackRequests.load(ordering: .relaxed), ackedIDs: counters.ackedIDs.load(ordering: .relaxed))
    }
}
