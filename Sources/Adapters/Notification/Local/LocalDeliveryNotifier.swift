import Application
import Domain
import Synchronization

/// Account events within one process: `post` hands the event to every subscription of the
/// account made here. Enough for the in-memory and SQLite stores, where one process serves
/// everything; `PostgresDeliveryNotifier` builds on it to reach the other processes.
///
/// Each subscription buffers the newest `bufferSize` events and drops older ones when its
/// session falls behind: events are hints, and the session leases whatever waits anyway.
public final class LocalDeliveryNotifier: DeliveryNotifier {
    private struct State {
        var nextToken: UInt64 = 1
        var subscribers: [AccountID: [UInt64: AsyncStream<AccountEvent>.Continuation]] = [:]
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    /// - Parameter bufferSize: The events a subscription keeps while its reader is busy.
    public init(bufferSize: Int = 16) {
        self.bufferSize = max(1, bufferSize)
    }

    public func post(_ event: AccountEvent, to account: AccountID) {
        let continuations = state.withLock { state in state.subscribers[account].map { Array($0.values) } ?? [] }
        for continuation in continuations { continuation.yield(event) }
    }

    /// Posts `event` to every subscription of every account here: for when events may have
    /// been missed (a lost connection to the other processes).
    public func postToAll(_ event: AccountEvent) {
        let continuations = state.withLock { state in state.subscribers.values.flatMap { $0.values } }
        for continuation in continuations { continuation.yield(event) }
    }

    public func subscribe(_ account: AccountID) -> AccountSubscription {
        let (events, continuation) = AsyncStream.makeStream(of: AccountEvent.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let token = state.withLock { state in
            defer { state.nextToken += 1 }
            state.subscribers[account, default: [:]][state.nextToken] = continuation
            return state.nextToken
        }
        // Runs once, whichever ends the stream first: `cancel()` or the reader's task.
        continuation.onTermination = { [weak self] _ in self?.remove(token, of: account) }
        return AccountSubscription(events: events, end: { continuation.finish() })
    }

    /// How many subscriptions are open, for tests.
    public var subscriptionCount: Int {
        state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } }
    }

    private func remove(_ token: UInt64, of account: AccountID) {
        state.withLock { state in
            state.subscribers[account]?[token] = nil
            if state.subscribers[account]?.isEmpty == true { state.subscribers[account] = nil }
        }
    }
}
