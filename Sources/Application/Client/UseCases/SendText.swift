import Domain

/// `send NAME TEXT`: sends a text (message type 3), exchanging a key first when needed.
public struct SendText: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Encrypts `text` under the pair key (UTF-8 plus a trailing NUL, as the original) and
    /// sends it. When no pair key exists, fetches the public key and sends a fresh key first.
    public func run(name: String, text: String) async throws -> (contact: Contact, message: MessageID) {
        let me = try await services.requireIdentity()
        let contact = try await ResolveContact(services).run(name: name, me: me)
        let key = try await SendKey(services).ensureKey(for: contact.id, me: me)
        let ciphertext = try services.crypto { try $0.encryptText(text, key: key) }
        let message = try await services.server.send(.text, content: ciphertext, to: contact.id, from: me.id)
        return (contact, message)
    }
}
