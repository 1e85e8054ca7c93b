import Adapters
import Domain
import SealpostWire

/// The keys of one benchmark account, made before its session connects: a fresh Ed25519
/// identity signing key, an X25519 identity key and a signed prekey, with real signatures.
/// Only the registration proof waits for the connection (it signs HELLO's nonce and the
/// certificate's hash).
struct V3BenchAccount: Sendable {
    let name: String
    private let signingSeed: [UInt8]
    private let unsigned: V3Registration

    init(name: String) throws {
        let seed = try OpenSSLCurve25519.randomBytes(32)
        let signingKey = try OpenSSLCurve25519.signingPublicKey(seed: seed)
        let identityKey = try OpenSSLCurve25519.agreementPublicKey(privateKey: try OpenSSLCurve25519.randomBytes(32))
        let prekeyKey = try OpenSSLCurve25519.agreementPublicKey(privateKey: try OpenSSLCurve25519.randomBytes(32))
        let identity = IdentityKeys(
            signingKey: signingKey, agreementKey: identityKey,
            agreementKeySignature: try OpenSSLCurve25519.sign(V3Signing.identityKey(identityKey), seed: seed))
        let signedPrekey = Prekey(
            id: 1, publicKey: prekeyKey,
            signature: try OpenSSLCurve25519.sign(V3Signing.prekey(id: 1, key: prekeyKey, signed: true), seed: seed))
        self.name = name
        self.signingSeed = seed
        // The proof is a placeholder until `registration(nonce:certificateHash:)` signs it.
        self.unsigned = V3Registration(
            name: name, identity: identity, signedPrekey: signedPrekey, oneTimePrekeys: [],
            proof: try Signature(bytes: [UInt8](repeating: 0, count: Signature.byteCount)))
    }

    /// The REGISTER body for a connection: the proof signs nonce ‖ certHash ‖ unsigned body.
    func registration(nonce: [UInt8], certificateHash: [UInt8]) throws -> V3Registration {
        var registration = unsigned
        registration.proof = try OpenSSLCurve25519.sign(
            V3Signing.registration(unsigned, nonce: nonce, certificateHash: certificateHash), seed: signingSeed)
        return registration
    }
}
