import Adapters
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SealpostWire
import Synchronization

/// An in-process secure server on a free loopback port, with its own certificate directory.
struct SecureTestServer {
    let server: SecureServer
    let directory: URL
    var port: Int { server.localAddress.port! }
    var fingerprint: ServerFingerprint { server.certificate.fingerprint }

    /// Starts a server with a certificate made in a fresh directory (or the one given).
    static func start(
        configuration: SecureServerConfiguration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1),
        certificate: ServerCertificate? = nil, directory: URL? = nil, router: SecureRequestRouter? = nil
    ) async throws -> SecureTestServer {
        let directory = try directory ?? TestStores.temporaryDirectory()
        let certificate = if let certificate { certificate } else {
            try await ServerCertificate.loadOrCreate(in: directory.appendingPathComponent("tls").path)
        }
        var logger = Logger(label: "secure-test")
        logger.logLevel = .critical
        let server = try await SecureServer.bind(configuration: configuration, certificate: certificate, router: router, logger: logger)
        return SecureTestServer(server: server, directory: directory)
    }

    /// Starts a server, runs `body`, and stops the server before returning, whether `body`
    /// succeeded or threw.
    @discardableResult
    static func with<T>(
        configuration: SecureServerConfiguration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1),
        certificate: ServerCertificate? = nil, directory: URL? = nil, router: SecureRequestRouter? = nil,
        _ body: (SecureTestServer) async throws -> T
    ) async throws -> T {
        let server = try await start(configuration: configuration, certificate: certificate, directory: directory, router: router)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    func stop() async {
        await server.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// What a hand-configured TLS client saw: for the tests that break the rules on purpose
/// (TLS 1.2 only, no ALPN).
struct TLSAttempt: Sendable {
    var handshakeCompleted = false
    var negotiatedProtocol: String?
    var bytesReceived = 0
    var error: String?

    /// Connects with `tls` (certificates not verified: the tests are about the server's
    /// refusals), reads until the server closes (at most `timeout`), and reports.
    static func run(port: Int, tls: TLSConfiguration, timeout: TimeAmount = .seconds(10)) async throws -> TLSAttempt {
        var tls = tls
        tls.certificateVerification = .none
        let context = try NIOSSLContext(configuration: tls)
        let observer = TLSObserver()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(observer)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        deadline.cancel()
        return observer.result
    }
}

private final class TLSObserver: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let state = Mutex(TLSAttempt())

    var result: TLSAttempt { state.withLock { $0 } }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let selected) = event {
            state.withLock {
                $0.handshakeCompleted = true
                $0.negotiatedProtocol = selected
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = unwrapInboundIn(data).readableBytes
        state.withLock { $0.bytesReceived += count }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state.withLock { if $0.error == nil { $0.error = "\(error)" } }
        context.close(promise: nil)
    }
}

/// Connects with a pin on `server`'s fingerprint and runs `body` with the session.
func withPinnedSession<T: Sendable>(_ server: SecureTestServer, _ body: (SecureClientSession) async throws -> T) async throws -> T {
    try await SecureConnection.withConnection(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint), body)
}
