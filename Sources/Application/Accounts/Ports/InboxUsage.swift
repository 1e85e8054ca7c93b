/// What waits in one inbox, in all and from one sender.
public struct InboxUsage: Sendable, Hashable {
    public var messages: Int
    public var bytes: Int
    public var senderMessages: Int
    public var senderBytes: Int

    public init(messages: Int, bytes: Int, senderMessages: Int, senderBytes: Int) {
        self.messages = messages
        self.bytes = bytes
        self.senderMessages = senderMessages
        self.senderBytes = senderBytes
    }
}
