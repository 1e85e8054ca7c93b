import Domain

/// The v3 server's use cases, built once over the chosen stores.
public struct AccountUseCases: Sendable {
    public let register: RegisterAccount
    public let authenticate: AuthenticateAccount
    public let prekeys: ManagePrekeys
    public let find: FindAccounts
    public let fetchBundle: FetchPrekeyBundle
    public let send: SendEnvelope
    /// `nil` when the server keeps no attachments: their requests are `unavailable`.
    public let attachments: ManageAttachments?
    public let limits: AccountLimits
    /// The rate limits kept in this process's memory (the attachment quota is the store's:
    /// `AttachmentQuota`).
    public let throttle: AccountThrottle
    let queue: any EnvelopeQueue
    let notifier: any DeliveryNotifier
    let clock: any WallClock

    /// - Parameters:
    ///   - attachments: where attachments live; `nil`: the server keeps none.
    ///   - attachmentQuota: where each account's daily attachment quota is kept, from the same
    ///     store as `attachments`; `nil`: uploads are not held to it.
    public init(accounts store: any AccountStore, queue: any EnvelopeQueue, notifier: any DeliveryNotifier,
                verifier: any SignatureVerifier, clock: any WallClock, limits: AccountLimits,
                newID: @escaping @Sendable () -> AccountID = RegisterAccount.randomID, attachments: (any AttachmentStore)? = nil,
                attachmentQuota: (any AttachmentQuota)? = nil) {
        let cached = CachedAccounts(store)
        let throttle = AccountThrottle(limits.rates, now: { clock.now() })
        self.throttle = throttle
        self.register = RegisterAccount(store: store, accounts: cached, verifier: verifier, limits: limits, throttle: throttle, newID: newID)
        self.authenticate = AuthenticateAccount(store: store, accounts: cached, verifier: verifier, throttle: throttle)
        self.prekeys = ManagePrekeys(store: store, accounts: cached, verifier: verifier, limits: limits)
        self.find = FindAccounts(store: store, limits: limits)
        self.fetchBundle = FetchPrekeyBundle(store: store, notifier: notifier, limits: limits, throttle: throttle)
        self.send = SendEnvelope(accounts: cached, queue: queue, notifier: notifier, clock: clock, limits: limits, throttle: throttle)
        self.attachments = attachments.map {
            ManageAttachments(store: $0, accounts: cached, clock: clock, limits: limits, quota: attachmentQuota)
        }
        self.limits = limits
        self.queue = queue
        self.notifier = notifier
        self.clock = clock
    }

    /// Push delivery for a session just authenticated as `account`.
    public func delivery(for account: AccountID, window: Int) -> AccountDelivery {
        AccountDelivery(account: account, queue: queue, notifier: notifier, clock: clock, window: window, limits: limits)
    }
}
