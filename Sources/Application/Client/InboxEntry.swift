import Domain

/// One pulled message as `inbox` shows it.
public struct InboxEntry: Hashable, Sendable {
    /// The server's message id.
    public let id: MessageID
    /// Who sent it.
    public let senderID: ClientID
    /// The sender's name, when known.
    public var senderName: ClientName?
    /// The raw type byte (1 key request, 2 key, 3 text, 4 file).
    public let type: UInt8
    /// The decrypted text (type 3).
    public var text: String?
    /// Where the decrypted file was saved (type 4).
    public var path: String?
    /// Why the message could not be read, or what went wrong handling it.
    public var error: String?
    /// True when a text or file could not be read because no pair key is shared with the
    /// sender (the original's "cannot be decrypted. Key is missing").
    public var missingKey = false
    /// True for a key message (type 2) that arrived while a pair key was already held and
    /// did not become the current one (the original's "received, but ignored").
    public var keyIgnored = false

    /// Builds an entry.
    public init(id: MessageID, senderID: ClientID, senderName: ClientName?, type: UInt8,
                text: String? = nil, path: String? = nil, error: String? = nil) {
        self.id = id
        self.senderID = senderID
        self.senderName = senderName
        self.type = type
        self.text = text
        self.path = path
        self.error = error
    }

    /// The message kind, when the type byte is a known one.
    public var kind: MessageKind? { MessageKind(rawValue: type) }
}

/// What `inbox` produced: the messages in order, and the error that cut the pull short,
/// if any (the messages before it are complete).
public struct InboxResult: Hashable, Sendable {
    /// The messages, oldest first.
    public var entries: [InboxEntry]
    /// Why the pull stopped early, when it did.
    public var failure: ClientError?

    /// Builds a result.
    public init(entries: [InboxEntry], failure: ClientError?) {
        self.entries = entries
        self.failure = failure
    }
}
