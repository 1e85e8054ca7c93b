import Adapters
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SealpostWire
import Synchronization

/// A TLS 1.3 server on a free loopback port that speaks v3 frames only as each test scripts:
/// it sends what the test says (HELLO, RESULTs, pushes, or broken frames) and hands the test
/// each frame the client sends. It stands for the real server where the real one cannot yet
/// answer, and for a malicious server.
final class ScriptedV3Server: Sendable {
    let certificate: ServerCertificate
    let port: Int
    private let directory: URL
    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let accepted: TestQueue<ScriptedV3Connection>

    var fingerprint: ServerFingerprint { certificate.fingerprint }
    var certificateHash: [UInt8] { certificate.certificateHash }

    private init(certificate: ServerCertificate, port: Int, directory: URL, group: MultiThreadedEventLoopGroup,
                 listener: any Channel, accepted: TestQueue<ScriptedV3Connection>) {
        self.certificate = certificate
        self.port = port
        self.directory = directory
        self.group = group
        self.listener = listener
        self.accepted = accepted
    }

    /// Starts a server, runs `body`, and stops the server before returning.
    @discardableResult
    static func with<T>(_ body: (ScriptedV3Server) async throws -> T) async throws -> T {
        let server = try await start()
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    static func start() async throws -> ScriptedV3Server {
        let directory = try TestStores.temporaryDirectory()
        let certificate = try await ServerCertificate.loadOrCreate(in: directory.appendingPathComponent("tls").path)
        let context = try NIOSSLContext(configuration: SecureServer.tlsConfiguration(for: certificate))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let accepted = TestQueue<ScriptedV3Connection>()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = ScriptedV3Connection(channel: channel)
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(V3FrameDecoder(maxLength: 1 << 24)))
                    try channel.pipeline.syncOperations.addHandler(ScriptedFrameHandler(connection: connection))
                    accepted.push(connection)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedV3Server(certificate: certificate, port: listener.localAddress!.port!, directory: directory,
                                group: group, listener: listener, accepted: accepted)
    }

    /// The next connection accepted, in order.
    func accept() async throws -> ScriptedV3Connection {
        guard let connection = try await accepted.next() else { throw ScriptError("the server stopped") }
        return connection
    }

    /// Connections accepted and not yet taken by `accept()`.
    var waitingConnections: Int { accepted.count }

    func stop() async {
        try? await listener.close()
        try? await group.shutdownGracefully()
        accepted.finish()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// One connection to the scripted server.
final class ScriptedV3Connection: Sendable {
    let channel: any Channel
    let frames = TestQueue<V3Frame>()
    private let handshake = Atomic<Bool>(false)

    init(channel: any Channel) {
        self.channel = channel
    }

    var handshakeCompleted: Bool {
        get { handshake.load(ordering: .acquiring) }
    }

    func markHandshakeCompleted() { handshake.store(true, ordering: .releasing) }

    /// HELLO with a fresh nonce (returned) and the limits given.
    @discardableResult
    func sendHello(maxInFlight: UInt16 = 256, idleTimeoutSeconds: UInt16 = 300, maxEnvelopeBytes: UInt32 = 65_536) async throws -> [UInt8] {
        let nonce = try OpenSSLCurve25519.randomBytes(32)
        try await send(.hello(V3Hello(nonce: nonce, maxEnvelopeBytes: maxEnvelopeBytes, maxInFlight: maxInFlight, idleTimeoutSeconds: idleTimeoutSeconds)))
        return nonce
    }

    func send(_ message: V3ServerMessage) async throws {
        var buffer = channel.allocator.buffer(capacity: 64)
        message.write(into: &buffer)
        try await sendRaw(buffer)
    }

    func sendResult(_ result: V3Result, to requestID: UInt32) async throws {
        try await send(.result(requestID: requestID, body: result.body()))
    }

    func sendRaw(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// The next frame from the client; nil once the connection has ended.
    func receive() async throws -> V3Frame? {
        try await frames.next()
    }

    /// The next request from the client, decoded.
    func request() async throws -> (id: UInt32, request: V3Request) {
        guard let frame = try await receive() else { throw ScriptError("the client closed the connection instead of sending a request") }
        guard let request = try V3Request.decode(type: frame.type, body: frame.body, maxEnvelope: 1 << 20) else {
            throw ScriptError("unknown request type \(frame.type)")
        }
        return (frame.requestID, request)
    }

    /// Ends the connection: close_notify, then close.
    func close() async {
        try? await channel.close()
    }
}

/// Hands each decoded frame to the connection's queue; the end of the connection ends it.
private final class ScriptedFrameHandler: ChannelInboundHandler {
    typealias InboundIn = V3Frame

    private let connection: ScriptedV3Connection

    init(connection: ScriptedV3Connection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.frames.push(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { connection.markHandshakeCompleted() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.frames.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.frames.finish(throwing: error)
        context.close(promise: nil)
    }
}

/// A queue between a producer on any thread and one consumer task.
final class TestQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<Element?, any Error>?
        var end: Result<Void, any Error>?
    }

    private let state = Mutex(State())

    func push(_ item: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            guard state.end == nil else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    func finish(throwing error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            if state.end == nil { state.end = error.map { .failure($0) } ?? .success(()) }
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }

    var count: Int { state.withLock { $0.items.count } }

    /// The next item; nil (or the error) once finished and drained.
    func next() async throws -> Element? {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Element?, any Error>? = state.withLock { state in
                if !state.items.isEmpty { return .success(state.items.removeFirst()) }
                if let end = state.end { return end.map { nil } }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

struct ScriptError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
