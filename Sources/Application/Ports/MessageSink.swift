import Domain

/// Where a delivery writes the messages it hands to their recipient: one reply of a wire
/// protocol, written in order. The protocol's own framing (heads, sizes, entry layout) is
/// the sink's business; `DeliverInbox` only says what goes out and when.
///
/// The calls come in this order: `begin` once, then per message `beginMessage` followed by
/// `write` for each piece of a streamed content (none for an inline one), then `finish`.
/// After any call throws, no other is made.
public protocol MessageSink {
    /// The reply starts; it carries exactly `messages`, oldest first (possibly none).
    mutating func begin(_ messages: [Envelope]) async throws

    /// The next message starts. An inline content (`inlineContent` not `nil`) is part of
    /// this call; a streamed one follows through `write`.
    mutating func beginMessage(_ message: Envelope) async throws

    /// The next piece of the current message's streamed content.
    mutating func write(_ piece: [UInt8]) async throws

    /// The reply is complete. Returns only once the recipient has received all of it (for
    /// TCP: every byte acknowledged by the peer); throws when that cannot be known. The
    /// messages are deleted only after this returns.
    mutating func finish() async throws
}
