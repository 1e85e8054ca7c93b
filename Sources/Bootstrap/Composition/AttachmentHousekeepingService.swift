import Application
import Foundation
import Logging
import ServiceLifecycle

/// Deletes the v3 attachments past `limits.attachmentTTLDays`, complete or abandoned (an
/// upload whose client, or server, died), with their files or chunk rows, and any storage
/// left without an attachment (`AttachmentStore.expire`). It runs at start, then every
/// `interval`.
struct AttachmentHousekeepingService: Service {
    let attachments: ManageAttachments
    let interval: Duration
    let logger: Logger

    /// Every 10 minutes, or more often for a short TTL, so that nothing outlives its TTL by
    /// more than a tenth of it (at least every second).
    static func interval(ttlDays: Double) -> Duration {
        .milliseconds(Int64(max(1000, min(600_000, ttlDays * 86_400_000 / 10))))
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let deleted = try await attachments.expire()
                if deleted > 0 { logger.info("v3: deleted \(deleted) attachments past their TTL") }
            } catch {
                logger.error("attachment housekeeping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
