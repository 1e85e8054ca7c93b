/// The v3 server's limits that the use cases enforce (docs/protocol-v3.md §7).
public struct AccountLimits: Sendable, Hashable {
    /// The largest envelope a SEND may carry (`limits.maxEnvelopeBytes`).
    public var maxEnvelopeBytes: Int
    /// One-time prekeys an account may hold at once.
    public var maxOneTimePrekeys: Int
    /// Below this many one-time prekeys the owner is told (NOTICE `prekeysLow`).
    public var prekeysLowThreshold: Int
    /// Whether LIST is served (`directory.listable`).
    public var directoryListable: Bool
    /// How long a delivery lease holds without renewal: how soon a dead process's in-flight
    /// deliveries go to another session. Live sessions renew at a third of it.
    public var leaseSeconds: Double
    /// The leaky buckets (`limits.rate.*`), per server process.
    public var rates: RateLimits
    /// How much may wait in one inbox (`limits.inbox.*`), held by the store.
    public var inbox: InboxCap
    /// The `retryAfterMilliseconds` of `inboxFull`: a hint, since the inbox empties only as
    /// its owner reads (`limits.inbox.retryAfterSeconds`).
    public var inboxFullRetrySeconds: Double
    /// The largest attachment (`limits.maxAttachmentBytes`): by default 4 GiB and 1 MiB, the
    /// ciphertext of a 4 GiB file (docs/protocol-v3.md §10.6: 16 bytes per 64 KiB chunk).
    public var maxAttachmentBytes: UInt64 = Self.defaultMaxAttachmentBytes
    /// 4 GiB + 1 MiB: a 4 GiB file's STREAM ciphertext fits.
    public static let defaultMaxAttachmentBytes: UInt64 = 4_296_015_872
    /// How long an attachment is kept after its creation, complete or not
    /// (`limits.attachmentTTLDays`); fractions of a day are allowed.
    public var attachmentTTLDays: Double = 30

    public init(maxEnvelopeBytes: Int = 65_536, maxOneTimePrekeys: Int = 100, prekeysLowThreshold: Int = 10,
                directoryListable: Bool = true, leaseSeconds: Double = 60, rates: RateLimits = RateLimits(),
                inbox: InboxCap = InboxCap(), inboxFullRetrySeconds: Double = 60) {
        self.rates = rates
        self.inbox = inbox
        self.inboxFullRetrySeconds = inboxFullRetrySeconds
        self.maxEnvelopeBytes = maxEnvelopeBytes
        self.maxOneTimePrekeys = maxOneTimePrekeys
        self.prekeysLowThreshold = prekeysLowThreshold
        self.directoryListable = directoryListable
        self.leaseSeconds = leaseSeconds
    }
}
