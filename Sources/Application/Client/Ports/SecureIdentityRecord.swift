import Domain

/// This home's v3 account as the client keeps it: the id the server gave, the name, the server
/// and the identity private keys. Secret: never printed.
public struct SecureIdentityRecord: Sendable, CustomStringConvertible {
    public let account: AccountID
    public let name: String
    public var server: String
    /// The Ed25519 seed (32 bytes).
    public let identitySeed: [UInt8]
    /// The X25519 identity private key (32 bytes).
    public let agreementPrivateKey: [UInt8]

    public init(account: AccountID, name: String, server: String, identitySeed: [UInt8], agreementPrivateKey: [UInt8]) {
        self.account = account
        self.name = name
        self.server = server
        self.identitySeed = identitySeed
        self.agreementPrivateKey = agreementPrivateKey
    }

    public var description: String { "\(name) \(account) on \(server)" }
}

/// A signed prekey's private key as kept: current while `replacedAt` is nil, then kept 30 days.
public struct StoredSignedPrekey: Sendable {
    public let id: UInt32
    public let privateKey: [UInt8]
    /// Milliseconds since 1970 UTC.
    public let createdAt: UInt64
    public let replacedAt: UInt64?

    public init(id: UInt32, privateKey: [UInt8], createdAt: UInt64, replacedAt: UInt64?) {
        self.id = id
        self.privateKey = privateKey
        self.createdAt = createdAt
        self.replacedAt = replacedAt
    }
}
