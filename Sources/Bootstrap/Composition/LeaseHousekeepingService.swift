import Application
import Foundation
import Logging
import ServiceLifecycle

/// Ends the v3 delivery leases of sessions whose process died (`EnvelopeQueue.expireLeases`),
/// every `interval`, so their envelopes go to the next session. Live sessions renew theirs.
struct LeaseHousekeepingService: Service {
    let queue: any EnvelopeQueue
    let clock: any WallClock
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let returned = try await queue.expireLeases(now: UInt64(max(0, clock.now() * 1000)))
                if returned > 0 { logger.info("v3: \(returned) envelopes whose leases ran out are deliverable again") }
            } catch {
                logger.error("lease housekeeping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
