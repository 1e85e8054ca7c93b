import Adapters
import Foundation
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

/// Runs the secure (protocol v3) server as a lifecycle service: SIGTERM or SIGINT stops
/// accepting; the sessions are closed when the server shuts down.
struct SecureServerService: Service {
    let server: SecureServer
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: {
            logger.info("secure: shutting down: no new connections")
            server.close()
        }
        await server.shutdown()
    }
}

/// Prints the servers' "listening" lines to standard output and ends. It runs inside the
/// service group, so by then SIGTERM/SIGINT are handled: a script that waits for the lines
/// can stop the server cleanly.
struct AnnouncementService: Service {
    let text: String

    func run() async throws {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
