import Domain

/// Request 104: hands a client its waiting messages, oldest first.
///
/// Fixes two defects of the original (docs/protocol-v2.md §7): messages are
/// claimed, so two pulls never return the same one, and they are deleted only after
/// the reply carrying them was written completely (`complete`); otherwise they go back
/// (`abandon`).
public struct PullMessages: Sendable {
    let store: any MessageStore
    let recognize: RecognizeClient

    public init(store: any MessageStore, recognize: RecognizeClient) {
        self.store = store
        self.recognize = recognize
    }

    /// Claims the next batch for `requester`, as much as `budget` admits: the reply's
    /// format knows what a message costs in it and how much one reply may carry.
    public func begin(requester: ClientID, budget: ClaimBudget) async throws -> MessageClaim {
        try await recognize(requester)
        return try await store.claim(for: requester, budget: budget)
    }

    /// Opens a streamed content of a claimed message.
    public func content(of message: Envelope, in claim: MessageClaim) async throws -> any MessageContentReader {
        try await store.openContent(of: message, in: claim)
    }

    /// The reply is still being written: keep the messages claimed.
    public func keepClaimed(_ claim: MessageClaim) async throws {
        guard !claim.messages.isEmpty else { return }
        try await store.renew(claim)
    }

    /// The reply was written completely: the messages are delivered and go.
    public func complete(_ claim: MessageClaim) async throws {
        guard !claim.messages.isEmpty else { return }
        try await store.acknowledge(claim)
    }

    /// The reply failed: the messages return to the inbox.
    public func abandon(_ claim: MessageClaim) async {
        guard !claim.messages.isEmpty else { return }
        try? await store.release(claim)
    }
}
