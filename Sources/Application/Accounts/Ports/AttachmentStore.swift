import Domain

/// An attachment as the store keeps it, without its bytes (docs/protocol-v3.md §9).
public struct StoredAttachment: Hashable, Sendable {
    public let id: AttachmentID
    /// The account whose session created it: the only one that may write or delete it.
    public let uploader: AccountID
    /// The accounts that may read it, in the order named, without repeats.
    public let recipients: [AccountID]
    /// The recipients that said they have all of it (ATTACH_DONE).
    public let done: Set<AccountID>
    /// The size declared at creation.
    public let size: UInt64
    /// Bytes stored so far, from offset 0 without a gap: the next write's offset.
    public let stored: UInt64
    /// When it was created and when it goes whatever happens (ms since 1970-01-01 UTC).
    public let createdAt: UInt64
    public let expiresAt: UInt64

    public init(id: AttachmentID, uploader: AccountID, recipients: [AccountID], done: Set<AccountID>, size: UInt64, stored: UInt64,
                createdAt: UInt64, expiresAt: UInt64) {
        self.id = id
        self.uploader = uploader
        self.recipients = recipients
        self.done = done
        self.size = size
        self.stored = stored
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public var isComplete: Bool { stored == size }

    /// Whether `account` may read it: its uploader or a recipient it names.
    public func isReadable(by account: AccountID) -> Bool { account == uploader || recipients.contains(account) }
}

/// Why the store refused an attachment operation.
public enum AttachmentStoreError: Error, Hashable, Sendable {
    /// No attachment has this id (never created, deleted, or expired and cleaned up).
    case notFound
    /// A write must start where the stored bytes end: at `stored`.
    case wrongOffset(stored: UInt64)
    /// The write would run past the declared size.
    case pastEnd(size: UInt64)
}

/// Where v3 attachments live: their metadata (uploader, recipients, size, stored offset,
/// expiry) and their bytes, which are opaque to the server and may be as large as
/// `limits.maxAttachmentBytes` (4 GiB + 1 MiB by default). No call holds more than the bytes it is
/// given or asked for in memory.
///
/// Contract (checked by the shared storage suite for every adapter):
/// - `append` is sequential: it stores `bytes` only at `offset == stored`, all or nothing,
///   and returns the new `stored`. Another offset is `wrongOffset(stored:)`, whatever the
///   writer; a write past the size is `pastEnd`. Bytes appended are kept when the process
///   dies (in the durable stores), so an upload resumes from `stored` after a restart.
/// - `read` returns the bytes from `offset`, up to `count`, fewer only at the stored end.
/// - `markDone` records a recipient as done; once every recipient is, the attachment and
///   its bytes are deleted in the same call.
/// - `expire` deletes every attachment whose `expiresAt` is at or before `now`, complete or
///   not, with its bytes, and also any bytes its store holds for no attachment (left by a
///   process that died between the two), so that nothing leaks.
/// - Unknown ids give `notFound` (or `nil`, `false`), never a crash.
public protocol AttachmentStore: Sendable {
    /// Records a new, empty attachment.
    func create(_ attachment: StoredAttachment) async throws

    /// The attachment `id`, or `nil`.
    func attachment(_ id: AttachmentID) async throws -> StoredAttachment?

    /// Appends `bytes` at `offset`, from the buffers they lie in; returns the bytes stored
    /// afterwards.
    func append(to id: AttachmentID, at offset: UInt64, _ bytes: some AttachmentBytes) async throws -> UInt64

    /// Up to `count` stored bytes from `offset`.
    func read(_ id: AttachmentID, at offset: UInt64, count: Int) async throws -> [UInt8]

    /// Records that `recipient` has all of `id`; returns how many recipients are not done yet
    /// (0: the attachment is deleted).
    func markDone(_ id: AttachmentID, by recipient: AccountID) async throws -> Int

    /// Deletes `id` and its bytes; `false` when there was none.
    func delete(_ id: AttachmentID) async throws -> Bool

    /// Deletes the attachments expired at `now` (ms since 1970) and any orphaned bytes;
    /// returns how many attachments it deleted.
    func expire(now: UInt64) async throws -> Int

    /// How many attachments the store holds and how many bytes of storage they take (files
    /// or chunk rows, orphans included): for tests and operators, to see that nothing leaks.
    func usage() async throws -> AttachmentUsage
}

extension AttachmentStore {
    /// `append` of an array (literals included).
    public func append(to id: AttachmentID, at offset: UInt64, _ bytes: [UInt8]) async throws -> UInt64 {
        try await appendAny(to: id, at: offset, bytes)
    }

    private func appendAny<Bytes: AttachmentBytes>(to id: AttachmentID, at offset: UInt64, _ bytes: Bytes) async throws -> UInt64 {
        try await append(to: id, at: offset, bytes)  // the requirement: `Bytes` is no array here
    }
}

/// What an `AttachmentStore` holds.
public struct AttachmentUsage: Hashable, Sendable {
    public var attachments: Int
    /// Storage units: files for the file-backed stores, chunk rows for PostgreSQL.
    public var storageUnits: Int
    public var bytes: UInt64

    public init(attachments: Int, storageUnits: Int, bytes: UInt64) {
        self.attachments = attachments
        self.storageUnits = storageUnits
        self.bytes = bytes
    }
}
