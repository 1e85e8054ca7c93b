import Domain

/// X3DH (docs/protocol-v3.md §10.2), as in Signal's specification, on the X25519 identity key.
public struct X3DH: Sendable {
    /// HKDF's info for SK.
    public static let info = Array("Sealpost X3DH v1".utf8)

    /// What the initiator gets: the shared secret, the session's associated data, and the
    /// prekey part its first messages carry.
    public struct Initiation: Sendable {
        public let sharedSecret: [UInt8]
        public let associatedData: [UInt8]
        public let prekeyPart: PrekeyMessagePart
    }

    let crypto: any EndToEndCrypto

    public init(crypto: any EndToEndCrypto) {
        self.crypto = crypto
    }

    /// AD = initiator IKsig ‖ IKdh ‖ responder IKsig ‖ IKdh ‖ initiator account ‖ responder account.
    public static func associatedData(initiator: IdentityKeys, initiatorAccount: AccountID,
                                      responder: IdentityKeys, responderAccount: AccountID) -> [UInt8] {
        initiator.signingKey.bytes + initiator.agreementKey.bytes + responder.signingKey.bytes + responder.agreementKey.bytes
            + initiatorAccount.bytes + responderAccount.bytes
    }

    /// Checks the bundle's three signatures (identity key, signed prekey, one-time prekey).
    public func verify(_ bundle: PrekeyBundle) throws(EndToEndError) {
        try verifyIdentity(bundle.identity)
        let signing = bundle.identity.signingKey
        let spk = bundle.signedPrekey
        guard crypto.isValid(spk.signature, of: SignedStatement.prekey(id: spk.id, key: spk.publicKey, signed: true), by: signing) else {
            throw .invalidPrekeySignature("the signed prekey \(spk.id)")
        }
        if let opk = bundle.oneTimePrekey,
           !crypto.isValid(opk.signature, of: SignedStatement.prekey(id: opk.id, key: opk.publicKey, signed: false), by: signing) {
            throw .invalidPrekeySignature("the one-time prekey \(opk.id)")
        }
    }

    /// Checks that an identity's X25519 key is signed by its Ed25519 key.
    public func verifyIdentity(_ identity: IdentityKeys) throws(EndToEndError) {
        guard crypto.isValid(identity.agreementKeySignature, of: SignedStatement.identityKey(identity.agreementKey),
                             by: identity.signingKey) else {
            throw .invalidPrekeySignature("the identity key")
        }
    }

    /// The initiator's side: verifies the bundle, then derives SK with the ephemeral private
    /// key `ephemeralPrivateKey` (fresh random bytes; fixed only in test vectors).
    public func initiate(from local: LocalIdentity, to bundle: PrekeyBundle, ephemeralPrivateKey: [UInt8]) throws(EndToEndError) -> Initiation {
        try verify(bundle)
        do {
            let ephemeral = try crypto.agreementPublicKey(privateKey: ephemeralPrivateKey)
            var input = [UInt8](repeating: 0xFF, count: 32)
            input += try crypto.sharedSecret(privateKey: local.agreementPrivateKey, peer: bundle.signedPrekey.publicKey)
            input += try crypto.sharedSecret(privateKey: ephemeralPrivateKey, peer: bundle.identity.agreementKey)
            input += try crypto.sharedSecret(privateKey: ephemeralPrivateKey, peer: bundle.signedPrekey.publicKey)
            if let opk = bundle.oneTimePrekey {
                input += try crypto.sharedSecret(privateKey: ephemeralPrivateKey, peer: opk.publicKey)
            }
            let secret = try crypto.hkdfSHA256(inputKey: input, salt: [UInt8](repeating: 0, count: 32), info: Self.info, outputCount: 32)
            let part = PrekeyMessagePart(senderIdentity: local.publicKeys, ephemeralKey: ephemeral,
                                         signedPrekeyID: bundle.signedPrekey.id, oneTimePrekeyID: bundle.oneTimePrekey?.id)
            let ad = Self.associatedData(initiator: local.publicKeys, initiatorAccount: local.account,
                                         responder: bundle.identity, responderAccount: bundle.account)
            return Initiation(sharedSecret: secret, associatedData: ad, prekeyPart: part)
        } catch {
            throw .crypto(error)
        }
    }

    /// The responder's side, from a prekey message's part and the private keys it names.
    /// Returns SK and the session's associated data.
    public func respond(as local: LocalIdentity, to part: PrekeyMessagePart, from sender: AccountID,
                        signedPrekeyPrivateKey: [UInt8], oneTimePrekeyPrivateKey: [UInt8]?) throws(EndToEndError) -> (sharedSecret: [UInt8], associatedData: [UInt8]) {
        try verifyIdentity(part.senderIdentity)
        do {
            var input = [UInt8](repeating: 0xFF, count: 32)
            input += try crypto.sharedSecret(privateKey: signedPrekeyPrivateKey, peer: part.senderIdentity.agreementKey)
            input += try crypto.sharedSecret(privateKey: local.agreementPrivateKey, peer: part.ephemeralKey)
            input += try crypto.sharedSecret(privateKey: signedPrekeyPrivateKey, peer: part.ephemeralKey)
            if let oneTimePrekeyPrivateKey {
                input += try crypto.sharedSecret(privateKey: oneTimePrekeyPrivateKey, peer: part.ephemeralKey)
            }
            let secret = try crypto.hkdfSHA256(inputKey: input, salt: [UInt8](repeating: 0, count: 32), info: Self.info, outputCount: 32)
            let ad = Self.associatedData(initiator: part.senderIdentity, initiatorAccount: sender,
                                         responder: local.publicKeys, responderAccount: local.account)
            return (secret, ad)
        } catch {
            throw .crypto(error)
        }
    }
}
