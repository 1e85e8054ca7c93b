import Domain

/// Request 103: stores a message for a registered recipient.
///
/// Checking comes first (`admit`), before any content is read, so that a refused
/// request never costs storage. Small contents are then stored in one step
/// (`deliver`); large ones stream (`beginUpload`).
public struct SendMessage: Sendable {
    let directory: any ClientDirectory
    let store: any MessageStore
    let recognize: RecognizeClient
    let limits: ServerLimits

    public init(directory: any ClientDirectory, store: any MessageStore, recognize: RecognizeClient, limits: ServerLimits) {
        self.directory = directory
        self.store = store
        self.recognize = recognize
        self.limits = limits
    }

    /// Checks sender, recipient, kind and size.
    ///
    /// - Throws: `DomainError.unknownClient`, `.unknownRecipient`, `.invalidMessage`,
    ///   `.payloadTooLarge`.
    public func admit(_ header: MessageHeader) async throws {
        guard header.contentSize <= limits.maxPayload else {
            throw DomainError.payloadTooLarge(declared: UInt64(header.contentSize), limit: UInt64(limits.maxPayload))
        }
        try header.kind.validate(contentSize: header.contentSize)
        try await recognize(header.sender)
        guard try await directory.client(withID: header.recipient) != nil else {
            throw DomainError.unknownRecipient(header.recipient)
        }
    }

    /// Stores an admitted message whose content is in memory.
    public func deliver(_ header: MessageHeader, content: [UInt8]) async throws -> MessageID {
        guard content.count == Int(header.contentSize) else {
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: UInt64(content.count))
        }
        return try await store.enqueue(header, content: content)
    }

    /// Starts storing an admitted message whose content will stream in.
    public func beginUpload(_ header: MessageHeader) async throws -> any MessageUpload {
        try await store.beginUpload(header)
    }
}
