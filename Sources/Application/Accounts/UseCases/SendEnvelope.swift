import Domain

/// SEND (docs/protocol-v3.md §5.9): stores an opaque envelope for an account, from the
/// session's own account, durably, and tells the recipient's sessions.
public struct SendEnvelope: Sendable {
    let accounts: CachedAccounts
    let queue: any EnvelopeQueue
    let notifier: any DeliveryNotifier
    let clock: any WallClock
    let limits: AccountLimits
    let throttle: AccountThrottle

    public init(accounts: CachedAccounts, queue: any EnvelopeQueue, notifier: any DeliveryNotifier, clock: any WallClock, limits: AccountLimits,
                throttle: AccountThrottle) {
        self.throttle = throttle
        self.accounts = accounts
        self.queue = queue
        self.notifier = notifier
        self.clock = clock
        self.limits = limits
    }

    /// - Parameter sender: the session's authenticated account; never one a frame claims.
    /// - Returns: the message id and the time it was stored (ms since 1970).
    /// - Throws: `AccountRequestError.tooLarge`, `.noSuchAccount`, `.rateLimited` (the pair's
    ///   or the recipient's bucket), `.inboxFull` (the inbox's cap, or the sender's share of it).
    public func callAsFunction(_ envelope: [UInt8], to recipient: AccountID, from sender: AccountID) async throws -> (id: MessageID, storedAt: UInt64) {
        guard !envelope.isEmpty, envelope.count <= limits.maxEnvelopeBytes else {
            throw AccountRequestError.tooLarge("an envelope is 1 to \(limits.maxEnvelopeBytes) bytes, this one \(envelope.count)")
        }
        guard try await accounts.account(id: recipient) != nil else { throw AccountRequestError.noSuchAccount }
        try throttle.send(from: sender, to: recipient, bytes: envelope.count)
        let storedAt = UInt64(max(0, clock.now() * 1000))
        let id: MessageID
        let retry = UInt32(clamping: Int64((limits.inboxFullRetrySeconds * 1000).rounded(.up)))
        switch try await queue.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt, within: limits.inbox) {
        case .stored(let stored): id = stored
        case .inboxFull:
            throw AccountRequestError.inboxFull(retryAfterMilliseconds: retry, "the recipient's inbox is full")
        case .senderShareFull:
            throw AccountRequestError.inboxFull(retryAfterMilliseconds: retry, "you have as many messages waiting for this recipient as one sender may")
        }
        await notifier.post(.envelopesWaiting, to: recipient)
        return (id, storedAt)
    }
}
