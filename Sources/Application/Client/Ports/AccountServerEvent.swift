import Domain

/// Something the v3 server pushed, or a change of the connection (docs/protocol-v3.md §6).
public enum AccountServerEvent: Hashable, Sendable {
    /// A message for this account (DELIVERY). Acknowledge its `messageID` once it is kept.
    case delivery(IncomingEnvelope)
    /// NOTICE `prekeysLow`: the account has `count` one-time prekeys left; upload more.
    case prekeysLow(count: Int)
    /// NOTICE `caughtUp`: every message that waited when the session began has been delivered
    /// (the deliveries before this event); later ones are pushed as they arrive.
    case caughtUp
    /// The connection broke (`reason`); attempt `attempt` to reconnect starts after `delay`.
    case reconnecting(attempt: Int, delay: Duration, reason: String)
    /// A new session is open (and authenticated again, when it was); deliveries resume.
    case reconnected
}

/// One DELIVERY (§6.1): an envelope, opaque to the server, from an authenticated sender.
public struct IncomingEnvelope: Hashable, Sendable {
    /// The server's id of the message: to acknowledge it, and to drop a duplicate.
    public let messageID: UInt64
    /// The account whose session sent it: authenticated by the server, never claimed.
    public let sender: AccountID
    /// When the server stored it, in milliseconds since 1970-01-01 UTC.
    public let serverTime: UInt64
    public let envelope: [UInt8]

    public init(messageID: UInt64, sender: AccountID, serverTime: UInt64, envelope: [UInt8]) {
        self.messageID = messageID
        self.sender = sender
        self.serverTime = serverTime
        self.envelope = envelope
    }
}
