import Domain

/// A sealed envelope whose fate is not known yet: kept in the transaction that saves the
/// ratchet step it was sealed with, deleted in the one that keeps it in the history once the
/// server has stored it, or once the server has refused it. A crash (or a dropped connection)
/// between leaves it here, and the next session with the server sends the same bytes again:
/// the message is neither lost nor sealed twice. If the server had stored it before the crash,
/// the recipient gets it twice and drops the second copy as a replay (its message key was
/// used already), so it is shown once.
public struct SecureOutboxItem: Sendable, Equatable {
    /// The contact it goes to.
    public let peer: AccountID
    /// The signed envelope as sent (docs/protocol-v3.md §10).
    public let envelope: [UInt8]
    /// What the history keeps once it is sent: its kind ("text", "file") and body.
    public let kind: String
    public let body: String
    /// The process that sealed it (its pid and start time): another process on the same home
    /// sends it again only once that one has ended, never while it may still be sending it.
    public let owner: String

    public init(peer: AccountID, envelope: [UInt8], kind: String, body: String, owner: String) {
        self.peer = peer
        self.envelope = envelope
        self.kind = kind
        self.body = body
        self.owner = owner
    }
}
