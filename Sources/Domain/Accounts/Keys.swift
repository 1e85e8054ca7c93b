/// An Ed25519 public key (RFC 8032), raw: an account's identity signing key.
public struct SigningPublicKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(AccountError) {
        guard bytes.count == Self.byteCount else { throw .invalidKey("an Ed25519 public key is 32 bytes, got \(bytes.count)") }
        self.bytes = Array(bytes)
    }
}

/// An X25519 public key (RFC 7748), raw: an identity key or a prekey for X3DH.
public struct AgreementPublicKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(AccountError) {
        guard bytes.count == Self.byteCount else { throw .invalidKey("an X25519 public key is 32 bytes, got \(bytes.count)") }
        self.bytes = Array(bytes)
    }
}

/// An Ed25519 signature, 64 bytes.
public struct Signature: Hashable, Sendable {
    public static let byteCount = 64
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(AccountError) {
        guard bytes.count == Self.byteCount else { throw .invalidKey("an Ed25519 signature is 64 bytes, got \(bytes.count)") }
        self.bytes = Array(bytes)
    }
}

/// A signed or one-time prekey: its id, its X25519 public key, and the identity signing key's
/// signature over both (docs/protocol-v3.md §4).
public struct Prekey: Hashable, Sendable {
    public let id: UInt32
    public let publicKey: AgreementPublicKey
    public let signature: Signature

    public init(id: UInt32, publicKey: AgreementPublicKey, signature: Signature) {
        self.id = id
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// An account's public identity: the Ed25519 signing key, and the X25519 key it signed.
public struct IdentityKeys: Hashable, Sendable {
    public let signingKey: SigningPublicKey
    public let agreementKey: AgreementPublicKey
    /// The signing key's signature over `agreementKey` ("Sealpost v3 identity key").
    public let agreementKeySignature: Signature

    public init(signingKey: SigningPublicKey, agreementKey: AgreementPublicKey, agreementKeySignature: Signature) {
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.agreementKeySignature = agreementKeySignature
    }
}

/// What X3DH needs of a recipient: its identity keys, signed prekey, and maybe one
/// one-time prekey (removed from the server when this bundle was handed out).
public struct PrekeyBundle: Hashable, Sendable {
    public let account: AccountID
    public let identity: IdentityKeys
    public let signedPrekey: Prekey
    public let oneTimePrekey: Prekey?

    public init(account: AccountID, identity: IdentityKeys, signedPrekey: Prekey, oneTimePrekey: Prekey?) {
        self.account = account
        self.identity = identity
        self.signedPrekey = signedPrekey
        self.oneTimePrekey = oneTimePrekey
    }
}
