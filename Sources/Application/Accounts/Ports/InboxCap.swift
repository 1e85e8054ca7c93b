/// How much may wait in one account's inbox (docs/protocol-v3.md §7): in all, and from any
/// one sender, so that one sender cannot take the whole inbox from the others.
public struct InboxCap: Sendable, Hashable {
    /// Envelopes waiting in all (`limits.inbox.maxMessages`).
    public var maxMessages: Int
    /// Envelope bytes waiting in all (`limits.inbox.maxBytes`).
    public var maxBytes: Int
    /// Envelopes waiting from one sender.
    public var maxMessagesPerSender: Int
    /// Envelope bytes waiting from one sender.
    public var maxBytesPerSender: Int

    public init(maxMessages: Int, maxBytes: Int, maxMessagesPerSender: Int, maxBytesPerSender: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxMessagesPerSender = maxMessagesPerSender
        self.maxBytesPerSender = maxBytesPerSender
    }

    /// A cap whose per-sender share is `senderSharePercent` of each total
    /// (`limits.inbox.senderSharePercent`), rounded up.
    public init(maxMessages: Int = 10_000, maxBytes: Int = 256 * 1_048_576, senderSharePercent: Int = 25) {
        let share = min(100, max(1, senderSharePercent))
        self.init(maxMessages: maxMessages, maxBytes: maxBytes,
                  maxMessagesPerSender: (maxMessages * share + 99) / 100, maxBytesPerSender: (maxBytes * share + 99) / 100)
    }

    /// Whether one more envelope of `bytes` fits beside what waits: `nil` when it does, else
    /// the refusal.
    public func refusal(adding bytes: Int, waiting: InboxUsage) -> InboxAdmission? {
        if waiting.messages + 1 > maxMessages || waiting.bytes + bytes > maxBytes { return .inboxFull }
        if waiting.senderMessages + 1 > maxMessagesPerSender || waiting.senderBytes + bytes > maxBytesPerSender {
            return .senderShareFull
        }
        return nil
    }
}
