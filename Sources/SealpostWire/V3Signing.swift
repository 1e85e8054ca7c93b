import Domain
import NIOCore

/// What each v3 signature signs (docs/protocol-v3.md §4), for wire values: the layouts are
/// `SignedStatement`'s; this adds the one that needs the codec, the registration proof over
/// the REGISTER body as encoded.
public enum V3Signing {
    public typealias Context = SignedStatement.Context

    /// The bytes signed under `context`: its string, 0x00, `fields`.
    public static func message(_ context: Context, _ fields: [UInt8]) -> [UInt8] {
        SignedStatement.message(context, fields)
    }

    /// Signed by the identity signing key over the X25519 identity key.
    public static func identityKey(_ key: AgreementPublicKey) -> [UInt8] {
        SignedStatement.identityKey(key)
    }

    /// Signed over a prekey's id and key, as a signed or a one-time prekey.
    public static func prekey(id: UInt32, key: AgreementPublicKey, signed: Bool) -> [UInt8] {
        SignedStatement.prekey(id: id, key: key, signed: signed)
    }

    /// The registration proof: nonce, certificate hash, the body before the proof.
    public static func registration(_ registration: V3Registration, nonce: [UInt8], certificateHash: [UInt8]) -> [UInt8] {
        SignedStatement.registration(nonce: nonce, certificateHash: certificateHash,
                                     unsignedBody: Array(registration.unsignedBody().readableBytesView))
    }

    /// The authentication of a connection: nonce, account, certificate hash.
    public static func authentication(nonce: [UInt8], account: AccountID, certificateHash: [UInt8]) -> [UInt8] {
        SignedStatement.authentication(nonce: nonce, account: account, certificateHash: certificateHash)
    }
}
