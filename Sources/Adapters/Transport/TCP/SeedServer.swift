import Application
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The seed protocol over TCP: accepts connections and serves one request on each.
///
/// `bind` listens; `run` accepts until `close`, then waits for the requests in flight
/// to finish, so a shutdown never cuts a reply short.
public final class SeedServer: Sendable {
    /// The address the server listens on (with the real port when bound to port 0).
    public let localAddress: SocketAddress
    private let listener: NIOAsyncChannel<NIOAsyncChannel<SeedRequestPart, Never>, Never>
    private let connection: SeedConnection
    private let configuration: SeedServerConfiguration
    private let logger: Logger
    private let open = Atomic<Int>(0)

    private init(
        listener: NIOAsyncChannel<NIOAsyncChannel<SeedRequestPart, Never>, Never>,
        connection: SeedConnection, configuration: SeedServerConfiguration, logger: Logger
    ) throws {
        self.listener = listener
        self.connection = connection
        self.configuration = configuration
        self.logger = logger
        guard let address = listener.channel.localAddress else {
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
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(allTimeout: idle))
                    try pipeline.addHandler(IdleTimeoutHandler(logger: logger))
                    try pipeline.addHandler(ByteToMessageHandler(
                        SeedRequestDecoder(maxPayload: limits.maxPayload, inlineLimit: limits.inlineContentLimit)))
                    return try NIOAsyncChannel<SeedRequestPart, Never>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8)))
                }
            }
        let connection = SeedConnection(useCases: useCases, configuration: configuration, logger: logger)
        return try SeedServer(listener: listener, connection: connection, configuration: configuration, logger: logger)
    }

    /// Accepts connections until `close()`, then waits for open connections to finish.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { inbound in
                for try await client in inbound {
                    let count = open.wrappingAdd(1, ordering: .relaxed).newValue
                    if count > configuration.maxConnections {
                        open.wrappingSubtract(1, ordering: .relaxed)
                        logger.warning("connection limit reached; closing new connection", metadata: ["limit": "\(configuration.maxConnections)"])
                        client.channel.close(promise: nil)
                        continue
                    }
                    group.addTask {
                        await self.connection.serve(client)
                        self.open.wrappingSubtract(1, ordering: .relaxed)
                    }
                }
            }
        }
    }

    /// Stops accepting. `run()` returns once the connections in flight are done.
    public func close() {
        listener.channel.close(promise: nil)
    }

    /// Connections being served right now.
    public var openConnections: Int { open.load(ordering: .relaxed) }
}
