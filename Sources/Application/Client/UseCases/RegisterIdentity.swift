import Domain

/// `register NAME`: creates an identity key, registers with the server and saves me.info.
public struct RegisterIdentity: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Registers `name` and returns the saved identity.
    ///
    /// - Throws: `ClientError.alreadyRegistered` when this home already has an identity;
    ///   `ClientError.invalidArgument` for an unacceptable name; `ClientError.server` when
    ///   the server refuses (for instance, the name is taken).
    public func run(name text: String) async throws -> ClientIdentity {
        if let existing = try await services.identity.load() {
            throw ClientError.alreadyRegistered(name: existing.name.value, id: existing.id)
        }
        let name: ClientName
        do {
            name = try ClientName(text)
        } catch {
            throw ClientError.invalidArgument(error.description)
        }
        // The original reads the name with `cin >>`, so its me.info cannot hold spaces.
        guard !text.contains(" ") else {
            throw ClientError.invalidArgument("invalid name: the original client's me.info cannot hold a name with spaces")
        }
        let pair = try services.crypto { try $0.generateKeyPair() }
        let id = try await services.server.register(name: name, publicKey: pair.publicKey)
        let identity: ClientIdentity
        do {
            identity = try ClientIdentity(name: name, id: id, privateKey: pair.privateKey)
        } catch {
            throw ClientError.localState(error.description)
        }
        try await services.identity.save(identity)
        return identity
    }
}
