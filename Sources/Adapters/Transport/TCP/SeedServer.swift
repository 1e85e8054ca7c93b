import Application
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The seed protocol over TCP: accepts connections and serves one request on each.
///
/// Each connection's pipeline is `IdleStateHandler` →
/// `ByteToMessageHandler(SeedRequestDecoder)` → `SeedRequestHandler`, which also enforces
/// the timeouts. `bind` listens;
/// `run` waits until `close`, then for the connections in flight to finish, so a
/// shutdown never cuts a reply short.
public final class SeedServer: Sendable {
    /// The address the server listens on (with the real port when bound to port 0).
    public let localAddress: SocketAddress
    private let listener: any Channel
    private let counter: ConnectionCounter

    private init(listener: any Channel, counter: ConnectionCounter) throws {
        self.listener = listener
        self.counter = counter
        guard let address = listener.localAddress else {
            throw ChannelError.unknownLocalAddress
        }
        self.localAddress = address
    }

    /// Starts listening on `configuration.host`:`configuration.port`.
    public static func bind(
        configuration: SeedServerConfiguration,
        useCases: ServerUseCases,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> SeedServer {
        let limits = useCases.limits
        let idle = TimeAmount.nanoseconds(Int64(configuration.idleTimeoutSeconds * 1_000_000_000))
        let connection = SeedConnection(useCases: useCases, configuration: configuration, logger: logger)
        let counter = ConnectionCounter()
        let maxConnections = configuration.maxConnections
        let requestDeadline = TimeAmount.nanoseconds(Int64(configuration.requestDeadlineSeconds * 1_000_000_000))
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                guard counter.open(limit: maxConnections) else {
                    logger.warning("connection limit reached; closing new connection", metadata: ["limit": "\(maxConnections)"])
                    return channel.close()
                }
                let served: @Sendable () -> Void = { counter.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(allTimeout: idle))
                    try pipeline.addHandler(ByteToMessageHandler(
                        SeedRequestDecoder(maxPayload: limits.maxPayload, inlineLimit: limits.inlineContentLimit)))
                    try pipeline.addHandler(SeedRequestHandler(
                        connection: connection, requestDeadline: requestDeadline, logger: logger, served: served))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        return try SeedServer(listener: listener, counter: counter)
    }

    /// Returns once `close()` was called and every connection has been served.
    public func run() async throws {
        try await listener.closeFuture.get()
        while counter.current > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops accepting. `run()` returns once the connections in flight are done.
    public func close() {
        listener.close(promise: nil)
    }

    /// Connections being served right now.
    public var openConnections: Int { counter.current }
}

/// Counts open connections against the configured limit.
final class ConnectionCounter: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a place, or returns `false` when `limit` are taken.
    func open(limit: Int) -> Bool {
        let now = count.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            count.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Gives a place back.
    func close() {
        count.wrappingSubtract(1, ordering: .relaxed)
    }

    var current: Int { count.load(ordering: .relaxed) }
}
