/// A client the server knows: its id, unique name and public key.
public struct RegisteredClient: Hashable, Sendable {
    public let id: ClientID
    public let name: ClientName
    public let publicKey: PublicKey

    public init(id: ClientID, name: ClientName, publicKey: PublicKey) {
        self.id = id
        self.name = name
        self.publicKey = publicKey
    }
}
