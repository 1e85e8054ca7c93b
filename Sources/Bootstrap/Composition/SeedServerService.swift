import Adapters
import Logging
import ServiceLifecycle

/// Runs the TCP server as a lifecycle service: SIGTERM or SIGINT stops accepting and
/// lets the requests in flight finish.
struct SeedServerService: Service {
    let server: SeedServer
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: {
            logger.info("shutting down: no new connections; finishing requests in flight")
            server.close()
        }
    }
}
