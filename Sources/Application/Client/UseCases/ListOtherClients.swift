import Domain

/// `list`: the server's other clients, remembered as contacts.
public struct ListOtherClients: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Fetches the list (101), records the names and returns it in registration order.
    public func run() async throws -> [ClientSummary] {
        let me = try await services.requireIdentity()
        let clients = try await services.server.listClients(requester: me.id)
        try await services.state.recordClients(clients)
        return clients
    }
}
