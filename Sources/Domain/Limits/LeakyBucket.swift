/// A leaky bucket (Signal-Server's rate limiter, in spirit): every request pours its cost in,
/// the bucket drains at a steady rate, and a request that would overflow it is refused, told
/// how long until it would fit. A pure value: the time is always given, never read, so tests
/// drive it with any clock.
public struct LeakyBucket: Sendable, Hashable {
    public let limit: RateLimit
    /// What the bucket held at `updatedAt`.
    public private(set) var level: Double
    /// Seconds on the caller's clock when `level` was last worked out.
    public private(set) var updatedAt: Double

    /// An empty bucket at `now`.
    public init(_ limit: RateLimit, now: Double) {
        self.limit = limit
        self.level = 0
        self.updatedAt = now
    }

    /// A bucket that held `level` at `updatedAt`, as a store kept it.
    public init(_ limit: RateLimit, level: Double, updatedAt: Double) {
        self.limit = limit
        self.level = max(0, level)
        self.updatedAt = updatedAt
    }

    /// What the bucket holds at `now`, after draining since `updatedAt`. A clock that went
    /// back drains nothing.
    public func level(at now: Double) -> Double {
        max(0, level - max(0, now - updatedAt) * limit.perSecond)
    }

    /// Seconds from `now` until `amount` would fit: 0 when it fits now, `infinity` when it
    /// never will (more than `burst`, or a bucket that does not drain).
    public func wait(for amount: Double, now: Double) -> Double {
        let over = level(at: now) + amount - limit.burst
        guard over > 0 else { return 0 }
        guard amount <= limit.burst, limit.perSecond > 0 else { return .infinity }
        return over / limit.perSecond
    }

    /// Pours `amount` in when it fits and returns 0; otherwise pours nothing and returns the
    /// seconds to wait (see `wait(for:now:)`).
    public mutating func take(_ amount: Double, now: Double) -> Double {
        let wait = wait(for: amount, now: now)
        guard wait == 0 else { return wait }
        level = level(at: now) + amount
        updatedAt = max(updatedAt, now)
        return 0
    }

    /// Whether the bucket has drained completely by `now`: forgetting it changes nothing.
    public func isEmpty(at now: Double) -> Bool {
        level(at: now) == 0
    }
}
