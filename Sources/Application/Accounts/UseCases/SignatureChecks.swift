import Domain

/// The signature checks the account use cases share (docs/protocol-v3.md §4).
enum SignatureChecks {
    /// The identity signing key's signature over the X25519 identity key.
    static func identity(_ identity: IdentityKeys, verifier: any SignatureVerifier) throws(AccountRequestError) {
        guard verifier.isValid(identity.agreementKeySignature, of: SignedStatement.identityKey(identity.agreementKey), by: identity.signingKey) else {
            throw .badSignature("the identity key's signature")
        }
    }

    /// A prekey's signature, as a signed or a one-time prekey.
    static func prekey(_ prekey: Prekey, signed: Bool, by key: SigningPublicKey, verifier: any SignatureVerifier) throws(AccountRequestError) {
        let statement = SignedStatement.prekey(id: prekey.id, key: prekey.publicKey, signed: signed)
        guard verifier.isValid(prekey.signature, of: statement, by: key) else {
            throw .badSignature(signed ? "the signed prekey's signature" : "the signature of one-time prekey \(prekey.id)")
        }
    }

    /// No prekey id twice in one request.
    static func noDuplicates(_ prekeys: [Prekey]) throws(AccountRequestError) {
        var seen = Set<UInt32>()
        for prekey in prekeys where !seen.insert(prekey.id).inserted {
            throw .duplicatePrekey(prekey.id)
        }
    }
}

extension AccountStoreError {
    /// The refusal a client is told.
    var requestError: AccountRequestError {
        switch self {
        case .nameTaken: .nameTaken
        case .idTaken: .unavailable("account id collision")
        case .duplicatePrekey(let id): .duplicatePrekey(id)
        case .tooManyPrekeys(let held, let adding, let limit): .tooManyPrekeys(held: held, adding: adding, limit: limit)
        case .noSuchAccount: .noSuchAccount
        }
    }
}
