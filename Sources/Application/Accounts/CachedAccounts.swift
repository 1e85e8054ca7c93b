import Domain
import Synchronization

/// Accounts found by id, remembered: accounts are never removed, so a positive answer stays
/// true, and SEND (which checks its recipient) and AUTHENTICATE need not ask the store again.
/// Bounded: past `capacity` entries the memory is dropped and refilled.
public final class CachedAccounts: Sendable {
    private let store: any AccountStore
    private let capacity: Int
    private let known = Mutex<[AccountID: Account]>([:])

    public init(_ store: any AccountStore, capacity: Int = 100_000) {
        self.store = store
        self.capacity = capacity
    }

    /// The account with `id`, or `nil`; only positive answers are remembered.
    public func account(id: AccountID) async throws -> Account? {
        if let account = known.withLock({ $0[id] }) { return account }
        guard let account = try await store.account(id: id) else { return nil }
        remember(account)
        return account
    }

    /// Notes an account just created or read elsewhere.
    public func remember(_ account: Account) {
        known.withLock { known in
            if known.count >= capacity { known.removeAll(keepingCapacity: true) }
            known[account.id] = account
        }
    }
}
