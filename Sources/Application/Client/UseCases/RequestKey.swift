import Domain

/// `request-key NAME`: asks another client for a symmetric key (message type 1).
public struct RequestKey: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Sends the request and returns the contact and the server's message id.
    public func run(name: String) async throws -> (contact: Contact, message: MessageID) {
        let me = try await services.requireIdentity()
        let contact = try await ResolveContact(services).run(name: name, me: me)
        let id = try await services.server.send(.keyRequest, content: [], to: contact.id, from: me.id)
        return (contact, id)
    }
}
