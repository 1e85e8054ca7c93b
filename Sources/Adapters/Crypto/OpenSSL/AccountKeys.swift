import Application
import Domain
import SealpostWire

/// A v3 account's private keys, as the client holds them (docs/protocol-v3.md §4–§5): the
/// Ed25519 identity seed, the X25519 identity private key, the signed prekey and the one-time
/// prekeys. It makes the public `IdentityKeys` and `Prekey`s, each signed under its context
/// string, and it is the `AccountSigner` that registers and authenticates.
///
/// Keys are made and used on OpenSSL. Where the private keys are kept between runs is the
/// caller's business. Printing this value (`description`, `dump`, string interpolation)
/// shows public keys only.
public struct AccountKeys: AccountSigner, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The private half of a prekey, with its id and public key.
    public struct PrivatePrekey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public let id: UInt32
        /// The X25519 private key: 32 bytes. Never printed.
        public let privateKey: [UInt8]
        public let publicKey: AgreementPublicKey

        /// - Throws: `OpenSSLCurve25519.Failure` when `privateKey` is not 32 bytes.
        public init(id: UInt32, privateKey: [UInt8]) throws {
            self.id = id
            self.privateKey = privateKey
            self.publicKey = try OpenSSLCurve25519.agreementPublicKey(privateKey: privateKey)
        }

        /// A new prekey with `id`.
        public static func generate(id: UInt32) throws -> PrivatePrekey {
            try PrivatePrekey(id: id, privateKey: try OpenSSLCurve25519.newAgreementPrivateKey())
        }

        public var description: String { "prekey \(id) (public \(HexBytes.encode(publicKey.bytes)))" }
        public var debugDescription: String { description }
        public var customMirror: Mirror { Mirror(self, children: ["id": id, "publicKey": publicKey]) }
    }

    /// The Ed25519 private key (the RFC 8032 seed): 32 bytes. Never printed.
    public let identitySeed: [UInt8]
    /// The X25519 identity private key: 32 bytes. Never printed.
    public let identityAgreementPrivateKey: [UInt8]
    public private(set) var signedPrekey: PrivatePrekey
    public private(set) var oneTimePrekeys: [PrivatePrekey]
    /// The public identity, its X25519 key signed under "Sealpost v3 identity key".
    public let identity: IdentityKeys

    /// Keys given as bytes (read back from where the caller keeps them).
    ///
    /// - Throws: `OpenSSLCurve25519.Failure` for a key that is not 32 bytes.
    public init(identitySeed: [UInt8], identityAgreementPrivateKey: [UInt8], signedPrekey: PrivatePrekey, oneTimePrekeys: [PrivatePrekey]) throws {
        let agreementKey = try OpenSSLCurve25519.agreementPublicKey(privateKey: identityAgreementPrivateKey)
        identity = IdentityKeys(
            signingKey: try OpenSSLCurve25519.signingPublicKey(seed: identitySeed), agreementKey: agreementKey,
            agreementKeySignature: try OpenSSLCurve25519.sign(V3Signing.identityKey(agreementKey), seed: identitySeed))
        self.identitySeed = identitySeed
        self.identityAgreementPrivateKey = identityAgreementPrivateKey
        self.signedPrekey = signedPrekey
        self.oneTimePrekeys = oneTimePrekeys
    }

    /// New keys: an identity, a signed prekey with `signedPrekeyID`, and one one-time prekey
    /// for each of `oneTimePrekeyIDs`.
    public static func generate(signedPrekeyID: UInt32 = 1, oneTimePrekeyIDs: some Sequence<UInt32> = 1...100) throws -> AccountKeys {
        try AccountKeys(
            identitySeed: try OpenSSLCurve25519.newSigningSeed(), identityAgreementPrivateKey: try OpenSSLCurve25519.newAgreementPrivateKey(),
            signedPrekey: try .generate(id: signedPrekeyID), oneTimePrekeys: try oneTimePrekeyIDs.map { try .generate(id: $0) })
    }

    /// Signs `message` with the identity seed.
    public func sign(_ message: [UInt8]) throws -> Signature {
        try OpenSSLCurve25519.sign(message, seed: identitySeed)
    }

    /// The signed prekey as it goes to the server, signed under "Sealpost v3 signed prekey".
    public func publicSignedPrekey() throws -> Prekey {
        try publicPrekey(signedPrekey, signed: true)
    }

    /// The one-time prekeys as they go to the server, each signed under
    /// "Sealpost v3 one-time prekey".
    public func publicOneTimePrekeys() throws -> [Prekey] {
        try oneTimePrekeys.map { try publicPrekey($0, signed: false) }
    }

    /// Makes one new one-time prekey for each of `ids`, keeps their private keys, and returns
    /// them as they go to the server (UPLOAD_PREKEYS).
    public mutating func addOneTimePrekeys(ids: some Sequence<UInt32>) throws -> [Prekey] {
        let added = try ids.map { try PrivatePrekey.generate(id: $0) }
        oneTimePrekeys += added
        return try added.map { try publicPrekey($0, signed: false) }
    }

    /// Makes a new signed prekey with `id` in place of the current one, and returns it as it
    /// goes to the server (REPLACE_SIGNED_PREKEY).
    public mutating func replaceSignedPrekey(id: UInt32) throws -> Prekey {
        signedPrekey = try .generate(id: id)
        return try publicSignedPrekey()
    }

    /// Removes and returns the one-time prekey with `id` (used once, by X3DH).
    public mutating func takeOneTimePrekey(id: UInt32) -> PrivatePrekey? {
        guard let index = oneTimePrekeys.firstIndex(where: { $0.id == id }) else { return nil }
        return oneTimePrekeys.remove(at: index)
    }

    private func publicPrekey(_ prekey: PrivatePrekey, signed: Bool) throws -> Prekey {
        Prekey(id: prekey.id, publicKey: prekey.publicKey,
               signature: try sign(V3Signing.prekey(id: prekey.id, key: prekey.publicKey, signed: signed)))
    }

    public var description: String {
        "account keys (identity \(HexBytes.encode(identity.signingKey.bytes)), signed prekey \(signedPrekey.id), \(oneTimePrekeys.count) one-time prekeys)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["identity": identity, "signedPrekey": signedPrekey, "oneTimePrekeys": oneTimePrekeys])
    }
}
