import Domain

/// The ports a client's use cases drive, built once by the composition root.
public struct ClientServices: Sendable {
    /// me.info.
    public let identity: any IdentityStore
    /// Contacts and keys.
    public let state: any ClientStateStore
    /// The server.
    public let server: any SeedServerConnection
    /// The legacy crypto suite.
    public let crypto: any LegacyCrypto
    /// Files to send and received files.
    public let files: any LocalFiles

    /// Gathers the ports.
    public init(
        identity: any IdentityStore, state: any ClientStateStore, server: any SeedServerConnection,
        crypto: any LegacyCrypto, files: any LocalFiles
    ) {
        self.identity = identity
        self.state = state
        self.server = server
        self.crypto = crypto
        self.files = files
    }

    /// The registered identity.
    ///
    /// - Throws: `ClientError.notRegistered` when this home has none.
    public func requireIdentity() async throws -> ClientIdentity {
        guard let identity = try await identity.load() else { throw ClientError.notRegistered }
        return identity
    }

    /// Runs a crypto operation, turning its error into `ClientError.crypto`.
    func crypto<T>(_ body: (any LegacyCrypto) throws -> T) throws -> T {
        do {
            return try body(crypto)
        } catch let error as CryptoError {
            throw ClientError.crypto(error)
        }
    }
}
