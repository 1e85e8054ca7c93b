import Application
import Foundation
import Logging
import ServiceLifecycle

/// Deletes v3 envelopes left undelivered past their time to live (`limits.messageTTLDays`,
/// `EnvelopeQueue.expire(storedBefore:)`): at start, then every `interval`.
struct MessageExpiryService: Service {
    let queue: any EnvelopeQueue
    let clock: any WallClock
    let timeToLiveSeconds: Double
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let cutoff = UInt64(max(0, (clock.now() - timeToLiveSeconds) * 1000))
                let expired = try await queue.expire(storedBefore: cutoff)
                if expired > 0 { logger.info("v3: deleted \(expired) undelivered envelopes past their time to live") }
            } catch {
                logger.error("message expiry failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
