import Domain

/// Finds another client by name: in the local contacts first, then in a fresh list.
public struct ResolveContact: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// The contact named `text`.
    ///
    /// - Throws: `ClientError.unknownClient` when the server knows no such name;
    ///   `ClientError.isSelf` for this client's own name.
    public func run(name text: String, me: ClientIdentity) async throws -> Contact {
        guard let name = try? ClientName(text) else { throw ClientError.unknownClient(name: text) }
        guard name != me.name else { throw ClientError.isSelf }
        if let contact = try await services.state.contact(named: name) {
            return contact
        }
        let clients = try await services.server.listClients(requester: me.id)
        try await services.state.recordClients(clients)
        guard let contact = try await services.state.contact(named: name) else {
            throw ClientError.unknownClient(name: text)
        }
        return contact
    }
}
