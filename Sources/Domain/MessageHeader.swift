/// Who sends what to whom: everything about a message but its content.
public struct MessageHeader: Hashable, Sendable {
    public let sender: ClientID
    public let recipient: ClientID
    public let kind: MessageKind
    /// The size of the content in bytes.
    public let contentSize: UInt32

    public init(sender: ClientID, recipient: ClientID, kind: MessageKind, contentSize: UInt32) {
        self.sender = sender
        self.recipient = recipient
        self.kind = kind
        self.contentSize = contentSize
    }
}
