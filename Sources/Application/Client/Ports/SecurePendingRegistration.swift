/// A v3 registration begun on a home and not known to have succeeded: the identity's private
/// keys and the name asked for, kept before REGISTER is sent, so that a crash between the
/// server's answer and the home's own record loses no account. Running `register` again
/// completes it.
public struct SecurePendingRegistration: Sendable, CustomStringConvertible {
    public let name: String
    /// HOST:PORT of the v3 server it was sent to.
    public let server: String
    /// The Ed25519 seed (32 bytes).
    public let identitySeed: [UInt8]
    /// The X25519 identity private key (32 bytes).
    public let agreementPrivateKey: [UInt8]

    public init(name: String, server: String, identitySeed: [UInt8], agreementPrivateKey: [UInt8]) {
        self.name = name
        self.server = server
        self.identitySeed = identitySeed
        self.agreementPrivateKey = agreementPrivateKey
    }

    public var description: String { "registration of \(name) on \(server), not completed" }
}
