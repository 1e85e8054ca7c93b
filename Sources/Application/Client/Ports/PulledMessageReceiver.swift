import Domain

/// Takes the messages of a pull reply while they stream in. For each message the transport
/// calls `begin`, then `content` zero or more times, then `end` exactly once.
///
/// Used from one task at a time; deliberately not `Sendable`.
public protocol PulledMessageReceiver: AnyObject {
    /// A message starts.
    func begin(_ header: PulledMessageHeader) async
    /// The next piece of the current message's content.
    func content(_ chunk: [UInt8]) async
    /// The current message is over: whole when `error` is `nil`; otherwise cut short or
    /// malformed, and `error` says how.
    func end(error: ClientError?) async
}
