import Domain

/// Where the client keeps its own identity: the original client's me.info.
public protocol IdentityStore: Sendable {
    /// The identity, or `nil` when this home has none yet.
    ///
    /// - Throws: `ClientError.localState` when the file exists but cannot be read or parsed.
    func load() async throws -> ClientIdentity?

    /// Saves `identity`, readable by the owner only.
    ///
    /// - Throws: `ClientError.localState` when it cannot be written.
    func save(_ identity: ClientIdentity) async throws
}
