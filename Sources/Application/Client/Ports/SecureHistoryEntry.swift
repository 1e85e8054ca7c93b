import Domain

/// One message of the local history, sent or received.
public struct SecureHistoryEntry: Sendable, Hashable {
    public enum Direction: String, Sendable {
        case sent = "out"
        case received = "in"
    }

    public let peer: AccountID
    public let direction: Direction
    /// Milliseconds since 1970 UTC: the server's time when known.
    public let time: UInt64
    /// "text" or "file".
    public let kind: String
    /// The text, or the file's name.
    public let body: String
    /// The server's message id, when known.
    public let messageID: UInt64?

    public init(peer: AccountID, direction: Direction, time: UInt64, kind: String, body: String, messageID: UInt64?) {
        self.peer = peer
        self.direction = direction
        self.time = time
        self.kind = kind
        self.body = body
        self.messageID = messageID
    }
}
