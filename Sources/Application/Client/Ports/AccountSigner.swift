import Domain

/// The holder of a v3 account's identity signing key, as the server connection needs it: to
/// prove a registration and to authenticate a session (docs/protocol-v3.md §4).
///
/// The private key stays behind this port; only signatures and the public identity come out.
public protocol AccountSigner: Sendable {
    /// The account's public identity: the Ed25519 signing key, the X25519 identity key and the
    /// signing key's signature over it.
    var identity: IdentityKeys { get }

    /// Signs `message` (already prefixed with its context string) with the identity signing key.
    func sign(_ message: [UInt8]) throws -> Signature
}
