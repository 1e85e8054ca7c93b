/// Waiting in tests: poll a condition until it holds or a deadline passes, never sleep a
/// fixed time and hope.

/// Polls `condition` every `interval` until it is true or `timeout` has passed; returns its
/// last answer. A wait that ends early costs no more than one interval.
@discardableResult
func eventually(
    timeout: Duration = .seconds(5), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    try await poll(timeout: timeout, every: interval) { try await condition() ? true : nil } ?? false
}

/// Polls `attempt` every `interval` until it gives a value or `timeout` has passed; returns
/// that value, or `nil` when the deadline passed without one.
func poll<T>(
    timeout: Duration = .seconds(5), every interval: Duration = .milliseconds(20),
    _ attempt: () async throws -> T?
) async throws -> T? {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await attempt() { return value }
        guard ContinuousClock.now < deadline else { return nil }
        try await Task.sleep(for: interval)
    }
}
