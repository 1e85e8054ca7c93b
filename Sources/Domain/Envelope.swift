/// A stored message as it is handed to its recipient.
public struct Envelope: Hashable, Sendable {
    public let id: MessageID
    public let sender: ClientID
    public let kind: MessageKind
    /// The size of the content in bytes.
    public let contentSize: UInt32
    /// The content when the store keeps it in memory; `nil` when it must be streamed
    /// from the store (large bodies).
    public let inlineContent: [UInt8]?

    public init(id: MessageID, sender: ClientID, kind: MessageKind, contentSize: UInt32, inlineContent: [UInt8]?) {
        self.id = id
        self.sender = sender
        self.kind = kind
        self.contentSize = contentSize
        self.inlineContent = inlineContent
    }
}
