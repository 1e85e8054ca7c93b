import Domain

/// FETCH_BUNDLE (docs/protocol-v3.md §5.8): hands out an account's bundle, taking one of its
/// one-time prekeys for good, and tells the owner when it runs low.
public struct FetchPrekeyBundle: Sendable {
    let store: any AccountStore
    let notifier: any DeliveryNotifier
    let limits: AccountLimits
    let throttle: AccountThrottle

    public init(store: any AccountStore, notifier: any DeliveryNotifier, limits: AccountLimits, throttle: AccountThrottle) {
        self.throttle = throttle
        self.store = store
        self.notifier = notifier
        self.limits = limits
    }

    /// - Parameter requester: the session's account, whose fetches are limited (`nil`: not).
    /// - Throws: `AccountRequestError.noSuchAccount`, `.rateLimited` (checked first, so a
    ///   refused fetch takes no prekey).
    public func callAsFunction(of account: AccountID, by requester: AccountID? = nil) async throws -> PrekeyBundle {
        if let requester { try throttle.fetchBundle(by: requester) }
        guard let taken = try await store.takeBundle(of: account) else { throw AccountRequestError.noSuchAccount }
        if taken.oneTimePrekeysLeft < limits.prekeysLowThreshold {
            await notifier.post(.prekeysLow(taken.oneTimePrekeysLeft), to: account)
        }
        return taken.bundle
    }
}
