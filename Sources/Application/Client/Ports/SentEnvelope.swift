/// The server's answer to SEND (docs/protocol-v3.md §5.9): the envelope is stored durably.
public struct SentEnvelope: Hashable, Sendable {
    /// The server's id of the message, unique per deployment, rising in storing order.
    public let messageID: UInt64
    /// When it was stored, in milliseconds since 1970-01-01 UTC.
    public let serverTime: UInt64

    public init(messageID: UInt64, serverTime: UInt64) {
        self.messageID = messageID
        self.serverTime = serverTime
    }
}
