/// How fast a leaky bucket drains and how much it holds: `burst` units at once, then
/// `perSecond` units a second for ever after (docs/protocol-v3.md §7).
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    /// What the bucket holds: that many units may be taken at once from an empty bucket.
    public var burst: Double
    /// How many units leak out of the bucket a second.
    public var perSecond: Double

    public init(burst: Double, perSecond: Double) {
        self.burst = burst
        self.perSecond = perSecond
    }

    /// `burst` units, then one unit every `seconds` seconds.
    public static func burst(_ burst: Double, thenOneEvery seconds: Double) -> RateLimit {
        RateLimit(burst: burst, perSecond: 1 / seconds)
    }

    public var description: String { "\(burst) then \(perSecond)/s" }
}
