import Domain

/// An envelope waiting for its recipient in the v3 queue (docs/protocol-v3.md §6).
public struct QueuedEnvelope: Hashable, Sendable {
    public let id: MessageID
    public let recipient: AccountID
    /// The account whose authenticated session sent it.
    public let sender: AccountID
    /// When it was stored, in milliseconds since 1970-01-01 UTC.
    public let storedAt: UInt64
    /// Opaque to the server.
    public let envelope: [UInt8]

    public init(id: MessageID, recipient: AccountID, sender: AccountID, storedAt: UInt64, envelope: [UInt8]) {
        self.id = id
        self.recipient = recipient
        self.sender = sender
        self.storedAt = storedAt
        self.envelope = envelope
    }
}

/// Names the holder of delivery leases: one per session, drawn at random (64 bits), so that it
/// is unique across the processes sharing a database.
public struct LeaseHolder: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public var description: String { String(rawValue, radix: 16) }
}

/// The v3 message queue: envelopes wait here, are leased to one session of their recipient
/// while delivered, and are deleted on acknowledgement.
///
/// Contract (checked by the shared storage suite for every adapter):
/// - `enqueue` is durable (in the durable stores) when it returns. Ids ascend in storing order
///   and are unique across the processes sharing a database.
/// - A leased envelope is invisible to every other `lease` until its holder releases it, or its
///   lease runs out (`expireLeases`). So an account with several sessions, even on several
///   servers, gets each envelope in one of them at a time ("once in total").
/// - `acknowledge` deletes only envelopes addressed to the account it names; repeating it, or
///   naming unknown ids, is harmless.
/// - `enqueue(..., within:)` checks the cap and stores in one step: envelopes enqueued at once,
///   even through several processes sharing a database, never take an inbox past its cap.
/// - `expire(storedBefore:)` deletes envelopes by their age, leased or not.
public protocol EnvelopeQueue: Sendable {
    /// Stores an envelope for `recipient` from `sender`, stamped `storedAt` (ms since 1970).
    func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) async throws -> MessageID

    /// Stores an envelope as `enqueue` does, unless it would take `recipient`'s inbox past
    /// `cap` (counting every envelope waiting, leased or not, with this one): then stores
    /// nothing and says which part of the cap is reached. The check and the insert are one
    /// atomic step, across processes too.
    func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                 within cap: InboxCap) async throws -> InboxAdmission

    /// Deletes every envelope stored before `storedBefore` (ms since 1970), leased or not:
    /// undelivered messages past their time to live. Returns how many it deleted.
    func expire(storedBefore: UInt64) async throws -> Int

    /// Leases up to `limit` of the oldest envelopes of `recipient` that no one holds, in id
    /// order, to `holder` until `until` (ms since 1970). An empty array when none wait.
    func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) async throws -> [QueuedEnvelope]

    /// Deletes those of `ids` that are addressed to `recipient`; returns how many it deleted.
    func acknowledge(_ ids: [MessageID], for recipient: AccountID) async throws -> Int

    /// Pushes every lease of `holder` forward to `until`: the session is still alive.
    func renew(_ holder: LeaseHolder, until: UInt64) async throws

    /// Gives every envelope leased to `holder` back to its inbox, unchanged: the session ended
    /// without acknowledging them.
    func release(_ holder: LeaseHolder) async throws

    /// Ends the leases that ran out before `now` (a session whose process died); returns how
    /// many envelopes became deliverable again.
    func expireLeases(now: UInt64) async throws -> Int

    /// How many envelopes wait for `recipient`, leased or not.
    func waitingCount(for recipient: AccountID) async throws -> Int
}
