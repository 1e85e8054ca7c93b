import Domain

/// `key NAME`: fetches and stores another client's public key.
public struct FetchPublicKey: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Fetches (102) and stores the public key of `name`.
    public func run(name: String) async throws -> (contact: Contact, key: PublicKey) {
        let me = try await services.requireIdentity()
        let contact = try await ResolveContact(services).run(name: name, me: me)
        let key = try await fetch(contact.id, me: me)
        return (contact, key)
    }

    /// Fetches (102) and stores the public key of `id`.
    public func fetch(_ id: ClientID, me: ClientIdentity) async throws -> PublicKey {
        let key = try await services.server.publicKey(of: id, requester: me.id)
        try await services.state.recordPublicKey(key, for: id)
        return key
    }

    /// The stored public key of `id`, fetched when not stored yet.
    public func known(_ id: ClientID, me: ClientIdentity) async throws -> PublicKey {
        if let key = try await services.state.contact(withID: id)?.publicKey {
            return key
        }
        return try await fetch(id, me: me)
    }
}
