import Domain

/// `send-key NAME`: sends the pair's symmetric key (message type 2), creating it when none
/// is shared yet. Also answers key requests in `ReadInbox`.
public struct SendKey: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Sends the key to the client named `name`.
    public func run(name: String) async throws -> (contact: Contact, message: MessageID) {
        let me = try await services.requireIdentity()
        let contact = try await ResolveContact(services).run(name: name, me: me)
        let message = try await send(to: contact.id, me: me)
        return (contact, message)
    }

    /// Sends the current pair key for `id` (a new one when none exists), wrapped to its
    /// public key (fetched when not stored).
    public func send(to id: ClientID, me: ClientIdentity) async throws -> MessageID {
        let publicKey = try await FetchPublicKey(services).known(id, me: me)
        let key: PairKey
        var isNew = false
        if let current = try await services.state.pairKeys(for: id).first {
            key = current
        } else {
            key = PairKey(bytes: try services.crypto { try $0.newSymmetricKey() }, origin: .created)
            isNew = true
        }
        let wrapped = try services.crypto { try $0.wrapKey(key.bytes, for: publicKey) }
        // Stored before it is sent: a reply under this key may arrive at any time after.
        if isNew {
            try await services.state.addPairKey(key, for: id, makeCurrent: true)
        }
        return try await services.server.send(.symmetricKey, content: wrapped, to: id, from: me.id)
    }

    /// The current pair key for `id`, creating and sending one first when none exists
    /// (what `send` and `send-file` do so that one command just works).
    public func ensureKey(for id: ClientID, me: ClientIdentity) async throws -> [UInt8] {
        if let current = try await services.state.pairKeys(for: id).first {
            return current.bytes
        }
        _ = try await send(to: id, me: me)
        guard let current = try await services.state.pairKeys(for: id).first else {
            throw ClientError.localState("the new pair key was not stored")
        }
        return current.bytes
    }
}
