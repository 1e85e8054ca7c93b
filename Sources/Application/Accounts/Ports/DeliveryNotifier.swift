import Domain

/// What a session of an account is told by others (docs/protocol-v3.md §6.2, §6.3).
public enum AccountEvent: Hashable, Sendable {
    /// New envelopes for the account were stored.
    case envelopesWaiting
    /// The account's one-time prekeys ran low: this many are left.
    case prekeysLow(Int)
}

/// Carries `AccountEvent`s from where they happen to the sessions of the account, in this
/// process and (on a shared PostgreSQL database) in every other server process. Push delivery
/// rests on it: no session polls.
///
/// Delivery of events is best effort and may repeat; a session that sees
/// `.envelopesWaiting` leases what waits, so a repeated event costs one empty lease.
public protocol DeliveryNotifier: Sendable {
    /// Tells every session of `account`, here and in the other processes.
    func post(_ event: AccountEvent, to account: AccountID) async

    /// Events for `account` from now on, until the subscription is ended.
    func subscribe(_ account: AccountID) -> AccountSubscription
}

/// A session's subscription: its events, and how to end it.
public struct AccountSubscription: Sendable {
    public let events: AsyncStream<AccountEvent>
    private let end: @Sendable () -> Void

    public init(events: AsyncStream<AccountEvent>, end: @escaping @Sendable () -> Void) {
        self.events = events
        self.end = end
    }

    /// Ends the subscription; `events` finishes. Safe to call more than once.
    public func cancel() { end() }
}
