import Domain
import NIOCore

/// What each v3 signature signs (docs/protocol-v3.md §4): a context string's ASCII bytes, one
/// 0x00, then the fields. One context per purpose, none a prefix of another.
public enum V3Signing {
    public enum Context: String, Sendable, CaseIterable {
        case identityKey = "Sealpost v3 identity key"
        case signedPrekey = "Sealpost v3 signed prekey"
        case oneTimePrekey = "Sealpost v3 one-time prekey"
        case register = "Sealpost v3 register"
        case authenticate = "Sealpost v3 authenticate"
    }

    /// The bytes signed under `context`: its string, 0x00, `fields`.
    public static func message(_ context: Context, _ fields: [UInt8]) -> [UInt8] {
        Array(context.rawValue.utf8) + [0] + fields
    }

    /// Signed by the identity signing key over the X25519 identity key.
    public static func identityKey(_ key: AgreementPublicKey) -> [UInt8] {
        message(.identityKey, key.bytes)
    }

    /// Signed over a prekey's id and key, as a signed or a one-time prekey.
    public static func prekey(id: UInt32, key: AgreementPublicKey, signed: Bool) -> [UInt8] {
        message(signed ? .signedPrekey : .oneTimePrekey, withUnsafeBytes(of: id.bigEndian, Array.init) + key.bytes)
    }

    /// The registration proof: nonce, certificate hash, the body before the proof.
    public static func registration(_ registration: V3Registration, nonce: [UInt8], certificateHash: [UInt8]) -> [UInt8] {
        let body = registration.unsignedBody()
        return message(.register, nonce + certificateHash + Array(body.readableBytesView))
    }

    /// The authentication of a connection: nonce, account, certificate hash.
    public static func authentication(nonce: [UInt8], account: AccountID, certificateHash: [UInt8]) -> [UInt8] {
        message(.authenticate, nonce + account.bytes + certificateHash)
    }
}
