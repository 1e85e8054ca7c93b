/// The time of day, as the server notes it (a client's last request).
///
/// A port so that tests can set the time; the composition root passes the system's clock.
/// Not Swift's `Clock`: this one answers dates, not instants to sleep until.
public protocol WallClock: Sendable {
    /// Seconds since 1970-01-01 00:00 UTC.
    func now() -> Double
}
