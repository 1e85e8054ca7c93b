import Foundation

/// How long a reconnecting client waits before each attempt: exponential, capped, with
/// jitter so that many clients cut off at once do not come back at once.
///
/// Attempt n (from 1) waits a random time between half and all of
/// `min(maximum, initial × multiplier^(n-1))`.
public struct ReconnectBackoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = max(1, multiplier)
    }

    /// The ceiling of attempt `attempt` (from 1), before jitter.
    public func ceiling(attempt: Int) -> Duration {
        let factor = Foundation.pow(multiplier, Double(max(0, attempt - 1)))
        let scaled = Double(initial.components.seconds) * factor + Double(initial.components.attoseconds) * 1e-18 * factor
        let cap = Double(maximum.components.seconds) + Double(maximum.components.attoseconds) * 1e-18
        return .milliseconds(Int64((min(scaled, cap) * 1000).rounded()))
    }

    /// The wait before attempt `attempt` (from 1): jittered in [ceiling / 2, ceiling].
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(attempt: attempt)
        let milliseconds = ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        guard milliseconds > 1 else { return ceiling }
        return .milliseconds(Int64.random(in: (milliseconds / 2)...milliseconds, using: &generator))
    }
}
