import Domain

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

/// Takes the messages of a pull reply while they stream in. For each message the transport
/// calls `begin`, then `content` zero or more times, then `end` exactly once.
///
/// Used from one task at a time; deliberately not `Sendable`.
public protocol PulledMessageReceiver: AnyObject {
    /// A message starts.
    func begin(_ header: PulledMessageHeader) async
    /// The next piece of the current message's content.
    func content(_ chunk: [UInt8]) async
    /// The current message is over: whole when `error` is `nil`; otherwise cut short or
    /// malformed, and `error` says how.
    func end(error: ClientError?) async
}
