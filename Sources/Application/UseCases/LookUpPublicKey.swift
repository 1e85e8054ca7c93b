import Domain

/// Request 102: the public key of a registered client.
///
/// The original client puts the target's id in the header instead of its own
/// (docs/protocol-v2.md §3.4); any registered id in the header is accepted.
public struct LookUpPublicKey: Sendable {
    let directory: any ClientDirectory
    let recognize: RecognizeClient

    public init(directory: any ClientDirectory, recognize: RecognizeClient) {
        self.directory = directory
        self.recognize = recognize
    }

    /// - Throws: `DomainError.unknownClient` for an unregistered requester or target.
    public func callAsFunction(requester: ClientID, target: ClientID) async throws -> RegisteredClient {
        try await recognize(requester)
        guard let client = try await directory.client(withID: target) else {
            throw DomainError.unknownClient(target)
        }
        return client
    }
}
