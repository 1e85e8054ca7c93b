import Application
import Logging
import ServiceLifecycle

/// Runs the store's recovery at start and then every `interval`: interrupted uploads
/// are removed and expired claims return to their inboxes.
struct StoreHousekeepingService: Service {
    let store: any MessageStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await store.recover()
            } catch {
                logger.error("store housekeeping failed", metadata: ["error": "\(error)"])
            }
            // Wakes at once on SIGTERM/SIGINT, so shutdown never waits for the interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
