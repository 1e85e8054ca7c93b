import Adapters
import Domain
import SealpostWire

/// A throwaway v3 account for the attachment bench: fresh random keys, registered or
/// authenticated on a session with signatures over that session's nonce and certificate.
struct BenchAccount: Sendable {
    let name: String
    private let seed: [UInt8]
    private let identityDH: [UInt8]

    init(name: String) throws {
        self.name = name
        seed = try OpenSSLCurve25519.randomBytes(32)
        identityDH = try OpenSSLCurve25519.randomBytes(32)
    }

    private func sign(_ message: [UInt8]) throws -> Signature { try OpenSSLCurve25519.sign(message, seed: seed) }

    /// REGISTER on `session`, with one-time prekeys none; returns the new account id.
    func register(on transfer: inout AttachmentTransfer) async throws -> AccountID {
        let session = transfer.session
        let dh = try OpenSSLCurve25519.agreementPublicKey(privateKey: identityDH)
        let identity = IdentityKeys(signingKey: try OpenSSLCurve25519.signingPublicKey(seed: seed), agreementKey: dh,
                                    agreementKeySignature: try sign(V3Signing.identityKey(dh)))
        let signedKey = try OpenSSLCurve25519.agreementPublicKey(privateKey: try OpenSSLCurve25519.randomBytes(32))
        let signed = Prekey(id: 1, publicKey: signedKey, signature: try sign(V3Signing.prekey(id: 1, key: signedKey, signed: true)))
        var registration = V3Registration(name: name, identity: identity, signedPrekey: signed, oneTimePrekeys: [],
                                          proof: try Signature(bytes: [UInt8](repeating: 0, count: 64)))
        registration.proof = try sign(V3Signing.registration(registration, nonce: session.hello.nonce, certificateHash: session.certificateHash))
        guard case .registered(let id) = try await transfer.call(.register(registration)) else {
            throw AttachmentTransfer.Failure.broken("REGISTER answered with another result")
        }
        return id
    }

    /// AUTHENTICATE as `id` on `session`.
    func authenticate(_ id: AccountID, on transfer: inout AttachmentTransfer) async throws {
        let session = transfer.session
        let signature = try sign(V3Signing.authentication(nonce: session.hello.nonce, account: id, certificateHash: session.certificateHash))
        _ = try await transfer.call(.authenticate(account: id, signature: signature))
    }
}
