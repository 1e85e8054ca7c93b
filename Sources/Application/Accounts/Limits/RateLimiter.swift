import Domain
import Synchronization

/// One `LeakyBucket` per key (an account pair, an account, an address), all with the same
/// `RateLimit`, held in this process's memory behind one lock.
///
/// Buckets that have drained are forgotten now and then (a forgotten bucket and an empty one
/// behave alike), so memory grows with the keys active lately, not with every key ever seen.
public final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var buckets: [Key: LeakyBucket] = [:]
        /// Forget drained buckets when there are more than this many.
        var sweepAt = 1024
    }

    public let limit: RateLimit
    private let now: @Sendable () -> Double
    private let state = Mutex(State())

    /// - Parameter now: seconds on any steady clock (the system's wall clock in the server).
    public init(_ limit: RateLimit, now: @escaping @Sendable () -> Double) {
        self.limit = limit
        self.now = now
    }

    /// Takes `amount` from `key`'s bucket. Returns 0 when taken, else the seconds to wait
    /// before it would be (nothing taken); `infinity` when it never fits.
    public func take(_ amount: Double = 1, for key: Key) -> Double {
        let now = now()
        return state.withLock { state in
            var bucket = state.buckets[key] ?? LeakyBucket(limit, now: now)
            let wait = bucket.take(amount, now: now)
            if wait == 0 { state.buckets[key] = bucket }
            if state.buckets.count > state.sweepAt {
                state.buckets = state.buckets.filter { !$0.value.isEmpty(at: now) }
                state.sweepAt = max(1024, state.buckets.count * 2)
            }
            return wait
        }
    }

    /// The seconds until `amount` would fit in `key`'s bucket, taking nothing.
    public func wait(for amount: Double = 1, key: Key) -> Double {
        let now = now()
        return state.withLock { state in
            state.buckets[key]?.wait(for: amount, now: now) ?? LeakyBucket(limit, now: now).wait(for: amount, now: now)
        }
    }

    /// Buckets held now, for tests.
    public var count: Int { state.withLock { $0.buckets.count } }
}
