import Domain

/// This client's account and identity private keys: the Ed25519 seed and the X25519 identity
/// private key, with the public keys the server holds. Secret: persisted only by the client's
/// own key store, never logged.
public struct LocalIdentity: Sendable {
    public let account: AccountID
    public let signingSeed: [UInt8]
    public let agreementPrivateKey: [UInt8]
    public let publicKeys: IdentityKeys

    /// Derives the public keys and signs the X25519 key (`Sealpost v3 identity key`).
    public init(account: AccountID, signingSeed: [UInt8], agreementPrivateKey: [UInt8], crypto: any EndToEndCrypto) throws(CryptoError) {
        let signingKey = try crypto.signingPublicKey(seed: signingSeed)
        let agreementKey = try crypto.agreementPublicKey(privateKey: agreementPrivateKey)
        let signature = try crypto.sign(SignedStatement.identityKey(agreementKey), seed: signingSeed)
        self.account = account
        self.signingSeed = signingSeed
        self.agreementPrivateKey = agreementPrivateKey
        self.publicKeys = IdentityKeys(signingKey: signingKey, agreementKey: agreementKey, agreementKeySignature: signature)
    }
}

/// The prekey private keys a recipient holds, by id, for the first message of a session.
/// The caller deletes a one-time prekey once `OpenedEnvelope.usedOneTimePrekeyID` names it.
public struct PrekeyPrivateKeys: Sendable {
    public var signed: [UInt32: [UInt8]]
    public var oneTime: [UInt32: [UInt8]]

    public init(signed: [UInt32: [UInt8]] = [:], oneTime: [UInt32: [UInt8]] = [:]) {
        self.signed = signed
        self.oneTime = oneTime
    }
}
