import Domain

/// The v3 server's rate limits at work (docs/protocol-v3.md §7): one `RateLimiter` per limit,
/// in this process's memory. Each check either takes from its buckets or throws
/// `AccountRequestError.rateLimited` with the time to wait, taking nothing.
///
/// The buckets are per process: servers sharing a database each allow the full rate. The
/// inbox cap and the attachment quota, which guard the disk, are the store's
/// (`EnvelopeQueue`, `AttachmentQuota`) and hold across processes.
public final class AccountThrottle: Sendable {
    public let limits: RateLimits
    private let pairs: RateLimiter<AccountPair>
    private let inboundBytes: RateLimiter<AccountID>
    private let fetches: RateLimiter<AccountID>
    private let registrations: RateLimiter<String>
    private let failedAuthentications: RateLimiter<String>

    /// - Parameter now: seconds on the clock the buckets drain by.
    public init(_ limits: RateLimits, now: @escaping @Sendable () -> Double) {
        self.limits = limits
        pairs = RateLimiter(limits.sendsPerPair, now: now)
        inboundBytes = RateLimiter(limits.inboundBytesPerRecipient, now: now)
        fetches = RateLimiter(limits.bundleFetches, now: now)
        registrations = RateLimiter(limits.registrations, now: now)
        failedAuthentications = RateLimiter(limits.failedAuthentications, now: now)
    }

    /// A SEND of `bytes` from `sender` to `recipient`: one from the pair's bucket, then
    /// `bytes` from the recipient's. A SEND refused for bytes has spent its pair token.
    public func send(from sender: AccountID, to recipient: AccountID, bytes: Int) throws(AccountRequestError) {
        try check(pairs.take(for: AccountPair(sender: sender, recipient: recipient)), "messages to this account")
        try check(inboundBytes.take(Double(bytes), for: recipient), "bytes into this account's inbox")
    }

    /// A FETCH_BUNDLE by `requester`.
    public func fetchBundle(by requester: AccountID) throws(AccountRequestError) {
        try check(fetches.take(for: requester), "prekey bundle fetches")
    }

    /// A REGISTER from `source` (a network address; `nil` is not limited).
    public func register(from source: String?) throws(AccountRequestError) {
        guard let source else { return }
        try check(registrations.take(for: source), "registrations from this address")
    }

    /// Before an AUTHENTICATE from `source` is checked: refused while the address's failures
    /// are spent.
    public func authenticate(from source: String?) throws(AccountRequestError) {
        guard let source else { return }
        try check(failedAuthentications.wait(key: source), "failed authentications from this address")
    }

    /// An AUTHENTICATE from `source` failed: it counts against the address.
    public func authenticationFailed(from source: String?) {
        guard let source else { return }
        _ = failedAuthentications.take(for: source)
    }

    private func check(_ wait: Double, _ what: String) throws(AccountRequestError) {
        try Self.refuse(ifWaiting: wait, what)
    }

    /// Nothing when `wait` (seconds, from a bucket) is 0; else `rateLimited` for "too many
    /// `what`", with the wait in milliseconds, rounded up, at least 1, and `UInt32.max` for
    /// `infinity` (never fits).
    static func refuse(ifWaiting wait: Double, _ what: String) throws(AccountRequestError) {
        guard wait > 0 else { return }
        let milliseconds = wait.isFinite ? UInt32(clamping: Int64(min(wait * 1000, Double(UInt32.max)).rounded(.up))) : UInt32.max
        throw AccountRequestError.rateLimited(retryAfterMilliseconds: max(1, milliseconds), "too many \(what)")
    }
}

/// A sender and a recipient: the key of the per-pair SEND bucket.
struct AccountPair: Hashable, Sendable {
    let sender: AccountID
    let recipient: AccountID
}
