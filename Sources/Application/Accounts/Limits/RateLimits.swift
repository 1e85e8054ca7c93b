import Domain

/// The v3 server's rate limits (docs/protocol-v3.md §7), each a leaky bucket kept per server
/// process, but the attachment quota, whose buckets the store keeps (`AttachmentQuota`).
/// Defaults follow Signal-Server's where it has one.
public struct RateLimits: Sendable, Hashable {
    /// SENDs from one account to one other (`limits.rate.sendsPerPair`): 60, then 1 a second.
    public var sendsPerPair: RateLimit
    /// Envelope bytes into one account's inbox, from all senders
    /// (`limits.rate.inboundBytesPerRecipient`): 50 MiB, then 1 MiB a second.
    public var inboundBytesPerRecipient: RateLimit
    /// FETCH_BUNDLEs by one account, of any accounts (`limits.rate.bundleFetches`): 6, then 1
    /// every 100 seconds.
    public var bundleFetches: RateLimit
    /// REGISTERs from one source address (`limits.rate.registrations`): 10, then 1 a minute.
    public var registrations: RateLimit
    /// Failed AUTHENTICATEs from one source address (`limits.rate.failedAuthentications`): 10,
    /// then 1 every 10 seconds. Once they are spent, every AUTHENTICATE from the address is
    /// refused, the right one too, until the bucket drains.
    public var failedAuthentications: RateLimit
    /// Attachment bytes one account may upload a day (`limits.rate.attachmentBytesPerDay`):
    /// 10 GiB, drained evenly over the day; held across processes by the store.
    public var attachmentBytesPerDay: Double

    public init(sendsPerPair: RateLimit = .burst(60, thenOneEvery: 1),
                inboundBytesPerRecipient: RateLimit = RateLimit(burst: 50 * 1_048_576, perSecond: 1_048_576),
                bundleFetches: RateLimit = .burst(6, thenOneEvery: 100),
                registrations: RateLimit = .burst(10, thenOneEvery: 60),
                failedAuthentications: RateLimit = .burst(10, thenOneEvery: 10),
                attachmentBytesPerDay: Double = 10 * 1_073_741_824) {
        self.sendsPerPair = sendsPerPair
        self.inboundBytesPerRecipient = inboundBytesPerRecipient
        self.bundleFetches = bundleFetches
        self.registrations = registrations
        self.failedAuthentications = failedAuthentications
        self.attachmentBytesPerDay = attachmentBytesPerDay
    }

    /// The attachment quota as a bucket: a day's bytes at once, drained over 86,400 s.
    public var attachmentBytes: RateLimit {
        RateLimit(burst: attachmentBytesPerDay, perSecond: attachmentBytesPerDay / 86_400)
    }
}
