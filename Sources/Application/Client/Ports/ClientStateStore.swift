import Domain

/// What a client remembers about others between runs (the original forgot it on exit):
/// contacts (id ↔ name), their public keys, and the symmetric keys of each pair.
///
/// Holds key material: an adapter keeps it readable by the owner only.
public protocol ClientStateStore: Sendable {
    /// The contact with `id`, or `nil` when none is known.
    func contact(withID id: ClientID) async throws -> Contact?

    /// The contact with `name`, or `nil` when none is known.
    func contact(named name: ClientName) async throws -> Contact?

    /// Records the names of `clients` (a list reply). A name now held by another id is
    /// taken from the old holder; known public and pair keys stay.
    func recordClients(_ clients: [ClientSummary]) async throws

    /// Records `key` as the public key of `id`, creating the contact when it is unknown.
    func recordPublicKey(_ key: PublicKey, for id: ClientID) async throws

    /// The pair keys shared with `id`: the current one (used to send) first, then older
    /// ones, newest first (kept so that messages queued under them still decrypt).
    /// Empty when none is known.
    func pairKeys(for id: ClientID) async throws -> [PairKey]

    /// Adds `key` for `id`, creating the contact when it is unknown. When the same key
    /// bytes are already known, nothing is added; with `makeCurrent` the key becomes the
    /// current one either way. Atomic.
    func addPairKey(_ key: PairKey, for id: ClientID, makeCurrent: Bool) async throws
}

/// Another client as this client knows it.
public struct Contact: Hashable, Sendable {
    /// The server's id for it.
    public let id: ClientID
    /// Its name, when a list reply named it.
    public let name: ClientName?
    /// Its public key, when fetched.
    public let publicKey: PublicKey?

    /// Builds a contact.
    public init(id: ClientID, name: ClientName?, publicKey: PublicKey?) {
        self.id = id
        self.name = name
        self.publicKey = publicKey
    }
}

/// A 16-byte symmetric key shared with one contact, and who made it.
public struct PairKey: Hashable, Sendable {
    /// Who created the key.
    public enum Origin: String, Hashable, Sendable {
        /// This client created it and sent it (type 2).
        case created
        /// The contact created it and this client received it (type 2).
        case received
    }

    /// The AES-128 key.
    public let bytes: [UInt8]
    /// Who created it.
    public let origin: Origin

    /// Builds a pair key.
    public init(bytes: [UInt8], origin: Origin) {
        self.bytes = bytes
        self.origin = origin
    }
}
