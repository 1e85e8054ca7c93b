import Domain

/// FETCH_BUNDLE (docs/protocol-v3.md §5.8): hands out an account's bundle, taking one of its
/// one-time prekeys for good, and tells the owner when it runs low.
public struct FetchPrekeyBundle: Sendable {
    let store: any AccountStore
    let notifier: any DeliveryNotifier
    let limits: AccountLimits

    public init(store: any AccountStore, notifier: any DeliveryNotifier, limits: AccountLimits) {
        self.store = store
        self.notifier = notifier
        self.limits = limits
    }

    /// - Throws: `AccountRequestError.noSuchAccount`.
    public func callAsFunction(of account: AccountID) async throws -> PrekeyBundle {
        guard let taken = try await store.takeBundle(of: account) else { throw AccountRequestError.noSuchAccount }
        if taken.oneTimePrekeysLeft < limits.prekeysLowThreshold {
            await notifier.post(.prekeysLow(taken.oneTimePrekeysLeft), to: account)
        }
        return taken.bundle
    }
}
