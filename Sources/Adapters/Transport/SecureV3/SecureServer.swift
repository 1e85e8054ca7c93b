import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SealpostWire
import Synchronization

/// The protocol v3 server's channel (docs/protocol-v3.md §1, §3): TLS 1.3 only, ALPN
/// `sealpost/3`, on SwiftNIO with swift-nio-ssl. It owns its event-loop group and shuts it
/// down. Each accepted connection gets a TLS handler, an idle timer and a
/// `SecureSessionChannelHandler`; after the handshake the session's HELLO goes out at once.
public final class SecureServer: Sendable {
    /// The one ALPN protocol this server speaks; a handshake that does not select it is refused.
    public static let applicationProtocol = "sealpost/3"

    public let configuration: SecureServerConfiguration
    public let certificate: ServerCertificate
    /// Where the server listens (with the port picked when the configuration said 0).
    public let localAddress: SocketAddress
    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let connections: ConnectionCount
    private let shutDown = Atomic<Bool>(false)

    private init(configuration: SecureServerConfiguration, certificate: ServerCertificate, localAddress: SocketAddress,
                 group: MultiThreadedEventLoopGroup, listener: any Channel, connections: ConnectionCount) {
        self.configuration = configuration
        self.certificate = certificate
        self.localAddress = localAddress
        self.group = group
        self.listener = listener
        self.connections = connections
    }

    /// The server side's TLS settings: TLS 1.3 and nothing else, ALPN `sealpost/3`.
    public static func tlsConfiguration(for certificate: ServerCertificate) -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificate.chain.map { .certificate($0) }, privateKey: .privateKey(certificate.privateKey))
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.applicationProtocols = [applicationProtocol]
        // A peer that never answers our close_notify is cut off after this.
        tls.shutdownTimeout = .seconds(2)
        return tls
    }

    /// Binds the listening socket; connections are served from then on, until `close()`.
    ///
    /// - Parameter router: runs the requests of authenticated sessions; `nil` serves the channel
    ///   alone (TLS and HELLO; every sign-in refused as `unavailable`).
    public static func bind(configuration: SecureServerConfiguration, certificate: ServerCertificate, router: SecureRequestRouter?,
                            logger: Logger) async throws -> SecureServer {
        let context = try NIOSSLContext(configuration: tlsConfiguration(for: certificate))
        let threads = configuration.ioThreads
            ?? ProcessInfo.processInfo.environment["SEALPOST_IO_THREADS"].flatMap(Int.init).map { max(1, min($0, 256)) }
            ?? System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let connections = ConnectionCount(limit: configuration.maxConnections)
        let authTimeout = TimeAmount.seconds(Int64(configuration.authTimeoutSeconds))
        let idleTimeout = TimeAmount.seconds(Int64(configuration.idleTimeoutSeconds))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard connections.admit() else {
                    logger.info("secure: connection limit reached; closing a new connection")
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.release() }
                return channel.eventLoop.makeCompletedFuture {
                    let nonce = try OpenSSLCurve25519.randomBytes(V3Hello.nonceSize)
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOSSLServerHandler(context: context),
                        IdleStateHandler(allTimeout: idleTimeout),
                        SecureSessionChannelHandler(
                            hello: configuration.hello(nonce: nonce), authTimeout: authTimeout, router: router,
                            certificateHash: certificate.certificateHash, logger: logger),
                    ])
                }
            }
        do {
            let listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            guard let address = listener.localAddress else { throw ChannelError.unknownLocalAddress }
            return SecureServer(configuration: configuration, certificate: certificate, localAddress: address,
                                group: group, listener: listener, connections: connections)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Returns once the listening socket is closed.
    public func run() async throws {
        try await listener.closeFuture.get()
    }

    /// Stops accepting connections. Safe to call more than once.
    public func close() {
        guard !shutDown.load(ordering: .acquiring) else { return }
        listener.close(promise: nil)
    }

    /// Stops accepting, closes every session and ends the event loops' threads. Safe to
    /// call more than once.
    public func shutdown() async {
        guard !shutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await listener.close()
        try? await group.shutdownGracefully()
    }

    /// Sessions open now.
    public var openConnections: Int { connections.current }
}

/// Connections open at once, against a limit.
private final class ConnectionCount: Sendable {
    private let count = Atomic<Int>(0)
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func admit() -> Bool {
        let now = count.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            count.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func release() { count.wrappingSubtract(1, ordering: .relaxed) }

    var current: Int { count.load(ordering: .relaxed) }
}
