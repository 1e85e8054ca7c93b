import Domain

/// What `EnvelopeQueue.enqueue(..., within:)` made of an envelope.
public enum InboxAdmission: Sendable, Hashable {
    /// Stored under this id.
    case stored(MessageID)
    /// Not stored: the inbox is at its cap in messages or bytes.
    case inboxFull
    /// Not stored: this sender holds its whole share of the inbox already.
    case senderShareFull
}
