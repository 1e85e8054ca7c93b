import Domain

/// LOOKUP and LIST (docs/protocol-v3.md §5.6, §5.7): the directory of accounts.
public struct FindAccounts: Sendable {
    let store: any AccountStore
    let limits: AccountLimits

    public init(store: any AccountStore, limits: AccountLimits) {
        self.store = store
        self.limits = limits
    }

    /// The account named exactly `name`.
    ///
    /// - Throws: `AccountRequestError.noSuchAccount`, also for a name no account could have.
    public func lookUp(name: String) async throws -> Account {
        guard let valid = try? AccountName(name), let account = try await store.account(named: valid) else {
            throw AccountRequestError.noSuchAccount
        }
        return account
    }

    /// A page of accounts after `after`, in byte-wise name order.
    ///
    /// - Throws: `AccountRequestError.directoryClosed` when the directory is not listable.
    public func list(after: String, limit: Int) async throws -> AccountPage {
        guard limits.directoryListable else { throw AccountRequestError.directoryClosed }
        return try await store.accounts(after: after, limit: limit)
    }
}
