import Application
import Logging
import NIOCore

/// The seed protocol (v2) over TCP: a `StreamServer` whose connections each speak v2
/// through a `SeedV2Handler`, one request per connection.
///
/// It replaces a SwiftNIO server: for one short request per connection, NIO's channel and
/// pipeline set-up cost about half of what the transport itself allows here (see
/// BENCHMARKS.md).
public final class SeedServer: Sendable {
    private let server: StreamServer

    private init(server: StreamServer) {
        self.server = server
    }

    /// The address the server listens on (with the real port when bound to port 0).
    public var localAddress: SocketAddress { server.localAddress }

    /// Starts listening on `configuration.host`:`configuration.port`, on a group of
    /// `configuration.ioThreads` loops that this server owns.
    public static func bind(
        configuration: SeedServerConfiguration,
        useCases: ServerUseCases,
        logger: Logger
    ) async throws -> SeedServer {
        let requests = SeedV2Requests(useCases: useCases, configuration: configuration, logger: logger)
        let limits = StreamServerLimits(
            maxConnections: configuration.maxConnections,
            idleTimeoutSeconds: configuration.idleTimeoutSeconds,
            requestDeadlineSeconds: configuration.requestDeadlineSeconds,
            shutdownGraceSeconds: configuration.shutdownGraceSeconds)
        let core = StreamServerCore(limits: limits, logger: logger) { SeedV2Handler(requests: requests) }
        let server = try await StreamServer.bind(
            host: configuration.host, port: configuration.port,
            threads: configuration.ioThreads ?? SocketLoopGroup.defaultThreadCount,
            threadName: "sealpost-io", core: core)
        return SeedServer(server: server)
    }

    /// Returns once `close()` was called, every connection has been served, and the
    /// server's loops have stopped.
    public func run() async throws {
        await server.run()
    }

    /// Stops accepting; connections without a request close at once, the others get the
    /// shutdown grace. `run()` returns once they are done.
    public func close() {
        server.close()
    }

    /// Connections being served right now.
    public var openConnections: Int { server.core.openConnections }

    /// Whether the server's loops have stopped (after `run()` returned).
    public var loopsStopped: Bool { server.group.isShutDown }
}
