import Application
import Domain
import Synchronization

/// The attachment quota for the in-memory store: each account's bucket in process memory,
/// taken and poured under one lock, so concurrent charges are admitted one after another.
///
/// Buckets that have drained are forgotten now and then (a forgotten bucket and an empty one
/// behave alike), so memory grows with the accounts uploading lately.
public final class InMemoryAttachmentQuota: AttachmentQuota {
    private struct State {
        var buckets: [AccountID: LeakyBucket] = [:]
        /// Forget drained buckets when there are more than this many.
        var sweepAt = 1024
    }

    private let state = Mutex(State())

    /// Every account's bucket empty.
    public init() {}

    /// Buckets held now, for tests.
    public var count: Int { state.withLock { $0.buckets.count } }

    public func charge(_ bytes: UInt64, to account: AccountID, within limit: RateLimit, now: Double) async throws -> Double {
        state.withLock { state in
            var bucket = state.buckets[account].map { LeakyBucket(limit, level: $0.level, updatedAt: $0.updatedAt) }
                ?? LeakyBucket(limit, now: now)
            let wait = bucket.take(Double(bytes), now: now)
            if wait == 0 { state.buckets[account] = bucket }
            if state.buckets.count > state.sweepAt {
                state.buckets = state.buckets.filter { !$0.value.isEmpty(at: now) }
                state.sweepAt = max(1024, state.buckets.count * 2)
            }
            return wait
        }
    }
}
