import Domain

/// Where a v3 client keeps its state between runs (its keys, sessions, contacts, seen message
/// ids and history): one database per home, written by one transaction at a time.
///
/// `write` runs `body` in one exclusive (IMMEDIATE) transaction: several processes on one
/// home are serialized, and everything `body` changed is committed together or not at all.
/// Every read-modify-write of a session goes through `write`.
public protocol SecureClientStore: Sendable {
    /// Runs `body` in a read transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SecureClientRecords) throws -> T) async throws -> T
    /// Runs `body` in one exclusive write transaction, committed when it returns.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SecureClientRecords) throws -> T) async throws -> T
}

/// The records of a `SecureClientStore`, inside one of its transactions. Synchronous: it is
/// only used within `read` or `write`.
public protocol SecureClientRecords {
    func identity() throws -> SecureIdentityRecord?
    func saveIdentity(_ identity: SecureIdentityRecord) throws
    /// Changes the server address kept with the identity.
    func setServer(_ server: String) throws

    /// The registration begun and not known to have succeeded: its keys, kept before REGISTER
    /// was sent; nil when there is none.
    func pendingRegistration() throws -> SecurePendingRegistration?
    func savePendingRegistration(_ pending: SecurePendingRegistration) throws
    func deletePendingRegistration() throws

    /// The signed prekeys kept: the current one (not replaced) and earlier ones still kept.
    func signedPrekeys() throws -> [StoredSignedPrekey]
    /// Adds `prekey` as the current signed prekey; the one it replaces is kept, marked replaced at `now`.
    func addSignedPrekey(id: UInt32, privateKey: [UInt8], now: UInt64) throws
    /// Deletes the signed prekeys replaced before `time`.
    func deleteSignedPrekeys(replacedBefore time: UInt64) throws

    /// The one-time prekeys' private keys, by id.
    func oneTimePrekeys() throws -> [UInt32: [UInt8]]
    /// The private key of the one-time prekey `id`; nil when there is none (used already).
    func oneTimePrekey(id: UInt32) throws -> [UInt8]?
    func addOneTimePrekeys(_ prekeys: [(id: UInt32, privateKey: [UInt8])]) throws
    func deleteOneTimePrekey(id: UInt32) throws
    /// Deletes every signed and one-time prekey (a registration given up before it was made).
    func deleteAllPrekeys() throws

    /// A counter kept in the store (the next prekey ids): its value, 0 when never set.
    func counter(_ name: String) throws -> UInt64
    func setCounter(_ name: String, to value: UInt64) throws
    /// Forgets the counter `name` (it reads 0 again).
    func deleteCounter(_ name: String) throws

    /// The upload of the file at `path` to `recipient` begun and not yet sent, if any.
    func pendingUpload(to recipient: AccountID, path: String) throws -> SecurePendingUpload?
    /// Keeps `upload`, replacing any other of the same file to the same recipient.
    func savePendingUpload(_ upload: SecurePendingUpload) throws
    func deletePendingUpload(to recipient: AccountID, path: String) throws

    /// Keeps a sealed envelope not yet known to be stored by the server; returns its key.
    func addToOutbox(_ item: SecureOutboxItem) throws -> Int64
    /// The envelopes kept and not yet answered, oldest first, with their keys.
    func outbox() throws -> [(key: Int64, item: SecureOutboxItem)]
    func deleteFromOutbox(key: Int64) throws

    func session(with peer: AccountID) throws -> EndToEndSession?
    /// Whether a session with `peer` is kept (without reading it).
    func hasSession(with peer: AccountID) throws -> Bool
    func saveSession(_ session: EndToEndSession) throws
    func deleteSession(with peer: AccountID) throws
    /// Earlier sessions with `peer` (replaced when both sides began one at once), newest first,
    /// with their keys: a message on one of them still opens.
    func archivedSessions(with peer: AccountID) throws -> [(key: Int64, session: EndToEndSession)]
    /// Keeps `session` among the earlier ones (the 4 newest are kept).
    func archiveSession(_ session: EndToEndSession) throws
    func deleteArchivedSession(key: Int64) throws

    func contact(id: AccountID) throws -> SecureContact?
    func contact(named name: String) throws -> SecureContact?
    func contacts() throws -> [SecureContact]
    func saveContact(_ contact: SecureContact) throws

    /// Whether the server's message `id` was accepted (or dropped) already.
    func isSeen(messageID id: UInt64) throws -> Bool
    func markSeen(messageID id: UInt64, at time: UInt64) throws

    /// Appends `entry`; a received one is marked not yet shown.
    func appendHistory(_ entry: SecureHistoryEntry) throws
    /// The received messages kept but not yet shown (a crash came between), with their keys.
    func unshownHistory() throws -> [(key: Int64, entry: SecureHistoryEntry)]
    /// Marks the received messages of `messageIDs` shown.
    func markShown(messageIDs: [UInt64]) throws
    /// The history with `peer`, oldest first.
    func history(with peer: AccountID) throws -> [SecureHistoryEntry]
    /// Whether a received file saved at `path` is in the history.
    func hasReceivedFile(at path: String) throws -> Bool
}
