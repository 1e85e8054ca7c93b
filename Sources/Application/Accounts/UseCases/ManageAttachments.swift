import Domain

/// The attachment requests (docs/protocol-v3.md §9): an uploader stores an attachment's
/// ciphertext in sequential writes, its recipients read it, and it goes once every recipient
/// is done, when its uploader deletes it, or after `attachmentTTLDays`.
///
/// Every call acts as the session's account: only the uploader writes and deletes, only the
/// uploader and the recipients it named read. An attachment that does not exist, has
/// expired, or may not be touched by the account is `noSuchAttachment` alike, so that ids
/// cannot be probed.
public struct ManageAttachments: Sendable {
    let store: any AttachmentStore
    let accounts: CachedAccounts
    let clock: any WallClock
    let limits: AccountLimits
    let newID: @Sendable () -> AttachmentID
    /// Where the daily attachment quota is kept (`limits.rate.attachmentBytesPerDay`),
    /// charged at creation; `nil`: no quota.
    let quota: (any AttachmentQuota)?

    public init(store: any AttachmentStore, accounts: CachedAccounts, clock: any WallClock, limits: AccountLimits,
                quota: (any AttachmentQuota)? = nil, newID: @escaping @Sendable () -> AttachmentID = AttachmentID.random) {
        self.quota = quota
        self.store = store
        self.accounts = accounts
        self.clock = clock
        self.limits = limits
        self.newID = newID
    }

    private var now: UInt64 { UInt64(max(0, clock.now() * 1000)) }

    /// ATTACH_CREATE: an empty attachment of `size` bytes for `recipients`, from `uploader`.
    ///
    /// - Throws: `AccountRequestError.tooLarge` (size 0 or over `maxAttachmentBytes`),
    ///   `.noSuchAccount` (a recipient), `.rateLimited` (the uploader's bytes for today are
    ///   spent: the whole declared size is charged when the attachment is created, in the
    ///   store, so the quota holds across the processes sharing it; a refused creation takes
    ///   nothing; a size over a whole day's quota waits `UInt32.max` ms, never fitting).
    public func create(size: UInt64, recipients: [AccountID], by uploader: AccountID) async throws -> StoredAttachment {
        guard size >= 1, size <= limits.maxAttachmentBytes else {
            throw AccountRequestError.tooLarge("an attachment is 1 to \(limits.maxAttachmentBytes) bytes, not \(size)")
        }
        var named: [AccountID] = []
        for recipient in recipients where !named.contains(recipient) {
            guard try await accounts.account(id: recipient) != nil else { throw AccountRequestError.noSuchAccount }
            named.append(recipient)
        }
        if let quota {
            let wait = try await quota.charge(size, to: uploader, within: limits.rates.attachmentBytes, now: clock.now())
            try AccountThrottle.refuse(ifWaiting: wait, "attachment bytes today")
        }
        let createdAt = now
        let attachment = StoredAttachment(
            id: newID(), uploader: uploader, recipients: named, done: [], size: size, stored: 0, createdAt: createdAt,
            expiresAt: createdAt + UInt64(max(0, limits.attachmentTTLDays * 86_400_000)))
        try await store.create(attachment)
        return attachment
    }

    /// ATTACH_WRITE: appends `bytes` at `offset`, which must be the stored offset; returns the
    /// new one. Consecutive writes may come as one (`AttachmentChunks`): all or nothing.
    ///
    /// - Throws: `.noSuchAttachment`, `.wrongOffset`, `.tooLarge` (past the declared size).
    public func write(_ id: AttachmentID, at offset: UInt64, _ bytes: some AttachmentBytes, by account: AccountID) async throws -> UInt64 {
        let attachment = try await live(id, for: account, uploaderOnly: true)
        do {
            return try await store.append(to: attachment.id, at: offset, bytes)
        } catch let refusal as AttachmentStoreError {
            throw Self.error(for: refusal)
        }
    }

    /// ATTACH_STATUS: the attachment as `account` may see it.
    public func status(_ id: AttachmentID, for account: AccountID) async throws -> StoredAttachment {
        try await live(id, for: account, uploaderOnly: false)
    }

    /// ATTACH_READ: up to `count` bytes from `offset` of a complete attachment.
    ///
    /// - Throws: `.noSuchAttachment`, `.attachmentIncomplete`, `.tooLarge` (`count` over `maxCount`).
    public func read(_ id: AttachmentID, at offset: UInt64, count: Int, maxCount: Int, for account: AccountID) async throws -> [UInt8] {
        guard count <= maxCount else {
            throw AccountRequestError.tooLarge("a read is at most \(maxCount) bytes, not \(count)")
        }
        let attachment = try await live(id, for: account, uploaderOnly: false)
        guard attachment.isComplete else { throw AccountRequestError.attachmentIncomplete(stored: attachment.stored, size: attachment.size) }
        guard offset < attachment.size else { return [] }
        do {
            return try await store.read(id, at: offset, count: count)
        } catch let refusal as AttachmentStoreError {
            throw Self.error(for: refusal)
        }
    }

    /// ATTACH_DONE: `recipient` has all of it. Returns the recipients not done yet; at 0 the
    /// attachment is deleted.
    public func done(_ id: AttachmentID, by recipient: AccountID) async throws -> Int {
        let attachment = try await live(id, for: recipient, uploaderOnly: false)
        guard attachment.recipients.contains(recipient) else { throw AccountRequestError.noSuchAttachment }
        do {
            return try await store.markDone(id, by: recipient)
        } catch let refusal as AttachmentStoreError {
            throw Self.error(for: refusal)
        }
    }

    /// ATTACH_DELETE: the uploader takes it back, complete or not.
    public func delete(_ id: AttachmentID, by uploader: AccountID) async throws {
        _ = try await live(id, for: uploader, uploaderOnly: true)
        guard try await store.delete(id) else { throw AccountRequestError.noSuchAttachment }
    }

    /// Deletes the attachments past their TTL, complete or abandoned, with their storage;
    /// returns how many. Run from housekeeping.
    public func expire() async throws -> Int {
        try await store.expire(now: now)
    }

    /// The attachment, when it exists, has not expired and `account` may use it.
    private func live(_ id: AttachmentID, for account: AccountID, uploaderOnly: Bool) async throws -> StoredAttachment {
        guard let attachment = try await store.attachment(id), attachment.expiresAt > now,
              uploaderOnly ? attachment.uploader == account : attachment.isReadable(by: account) else {
            throw AccountRequestError.noSuchAttachment
        }
        return attachment
    }

    private static func error(for refusal: AttachmentStoreError) -> AccountRequestError {
        switch refusal {
        case .notFound: .noSuchAttachment
        case .wrongOffset(let stored): .wrongOffset(stored: stored)
        case .pastEnd(let size): .tooLarge("the write runs past the attachment's size of \(size) bytes")
        }
    }
}
