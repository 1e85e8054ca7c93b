/// The bytes each v3 signature signs (docs/protocol-v3.md §4): a context string's ASCII bytes,
/// one 0x00, then the fields. One context per purpose, and none is a prefix of another, so a
/// signature made for one purpose never verifies for another.
///
/// The layouts are the protocol's; they sit in Domain because the server's use cases check
/// them and the clients make them. The registration proof signs the REGISTER body as the wire
/// encodes it, so its caller supplies those bytes.
public enum SignedStatement {
    public enum Context: String, Sendable, CaseIterable {
        case identityKey = "Sealpost v3 identity key"
        case signedPrekey = "Sealpost v3 signed prekey"
        case oneTimePrekey = "Sealpost v3 one-time prekey"
        case register = "Sealpost v3 register"
        case authenticate = "Sealpost v3 authenticate"
        case envelope = "Sealpost v3 envelope"
    }

    /// `context`'s string, 0x00, `fields`.
    public static func message(_ context: Context, _ fields: [UInt8]) -> [UInt8] {
        Array(context.rawValue.utf8) + [0] + fields
    }

    /// Signed by the identity signing key over the X25519 identity key.
    public static func identityKey(_ key: AgreementPublicKey) -> [UInt8] {
        message(.identityKey, key.bytes)
    }

    /// Signed over a prekey's id (big-endian u32) and key, as a signed or a one-time prekey.
    public static func prekey(id: UInt32, key: AgreementPublicKey, signed: Bool) -> [UInt8] {
        message(signed ? .signedPrekey : .oneTimePrekey, bigEndian(id) + key.bytes)
    }

    /// The registration proof: nonce, certificate hash, then the REGISTER body up to its proof.
    public static func registration(nonce: [UInt8], certificateHash: [UInt8], unsignedBody: [UInt8]) -> [UInt8] {
        message(.register, nonce + certificateHash + unsignedBody)
    }

    /// The authentication of a connection: nonce, account, certificate hash.
    public static func authentication(nonce: [UInt8], account: AccountID, certificateHash: [UInt8]) -> [UInt8] {
        message(.authenticate, nonce + account.bytes + certificateHash)
    }

    /// The sender's signature of an end-to-end envelope (§10.4): every byte before it.
    public static func envelope(unsignedBytes: [UInt8]) -> [UInt8] {
        message(.envelope, unsignedBytes)
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
