import Domain

/// Checks Ed25519 signatures (RFC 8032, strict: a non-canonical encoding fails). The server
/// checks every key signature, registration proof and authentication through it.
public protocol SignatureVerifier: Sendable {
    /// Whether `signature` is `key`'s signature of `message`.
    func isValid(_ signature: Signature, of message: [UInt8], by key: SigningPublicKey) -> Bool
}
