import Domain

/// An envelope that verified and decrypted: its content, the session to persist in place of
/// the old one, and what else the caller must record, in one transaction.
public struct OpenedEnvelope: Sendable {
    public let sender: AccountID
    public let content: MessageContent
    /// The session after this message: persist it (it replaces any earlier one with the sender).
    public let session: EndToEndSession
    /// The one-time prekey this prekey message used: delete its private key now.
    public let usedOneTimePrekeyID: UInt32?
    /// Whether this message began a new session (trust on first use of `session.remoteIdentity`).
    public let beganSession: Bool
}
