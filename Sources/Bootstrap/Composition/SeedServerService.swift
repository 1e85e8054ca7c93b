import Adapters
import Foundation
import Logging
import ServiceLifecycle

/// Runs the TCP server as a lifecycle service: SIGTERM or SIGINT stops accepting and
/// lets the requests in flight finish.
struct SeedServerService: Service {
    let server: SeedServer
    /// Printed to standard output when the service starts: by then the service group
    /// handles SIGTERM/SIGINT, so a script that waits for this line can stop us cleanly.
    let announcement: String
    let logger: Logger

    func run() async throws {
        FileHandle.standardOutput.write(Data(announcement.utf8))
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: {
            logger.info("shutting down: no new connections; finishing requests in flight")
            server.close()
        }
    }
}
