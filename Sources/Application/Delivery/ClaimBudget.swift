import Domain

// Interim: the store-side ClaimBudget (rule inside the stores) lands from the `store` branch.
/// How much of an inbox one delivery may claim: at most `maxBytes` of reply, counting
/// `overheadPerMessage` bytes of framing for each message on top of its content.
public struct ClaimBudget: Sendable, Hashable {
    public let maxBytes: UInt64
    public let overheadPerMessage: UInt64

    public init(maxBytes: UInt64, overheadPerMessage: UInt64) {
        self.maxBytes = maxBytes
        self.overheadPerMessage = overheadPerMessage
    }
}

extension MessageStore {
    func claim(for recipient: ClientID, budget: ClaimBudget) async throws -> MessageClaim {
        try await claim(for: recipient, maxBytes: budget.maxBytes)
    }
}
