/// The head of one message in a pull reply (docs/protocol-v2.md §4.5): sender (16),
/// message id (4), type (1), content size (4).
public struct PulledMessageHeader: Hashable, Sendable {
    /// Who sent it.
    public let sender: ClientID
    /// The server's number for it.
    public let id: MessageID
    /// The raw type byte; `kind` is `nil` when it is not one the protocol knows.
    public let type: UInt8
    /// The content size in bytes.
    public let contentSize: UInt32

    /// The message type, when the byte is a known one.
    public var kind: MessageKind? { MessageKind(rawValue: type) }

    /// Builds a header.
    public init(sender: ClientID, id: MessageID, type: UInt8, contentSize: UInt32) {
        self.sender = sender
        self.id = id
        self.type = type
        self.contentSize = contentSize
    }
}
