import Domain

/// A REGISTER request as the use case needs it (docs/protocol-v3.md §5.1).
public struct AccountRegistration: Sendable, Hashable {
    /// As received: validated by the use case.
    public let name: String
    public let identity: IdentityKeys
    public let signedPrekey: Prekey
    public let oneTimePrekeys: [Prekey]
    public let proof: Signature
    /// The REGISTER body up to, not including, its proof, as it came over the wire: what the
    /// proof signs after the channel binding.
    public let unsignedBody: [UInt8]

    public init(name: String, identity: IdentityKeys, signedPrekey: Prekey, oneTimePrekeys: [Prekey], proof: Signature, unsignedBody: [UInt8]) {
        self.name = name
        self.identity = identity
        self.signedPrekey = signedPrekey
        self.oneTimePrekeys = oneTimePrekeys
        self.proof = proof
        self.unsignedBody = unsignedBody
    }
}

/// REGISTER: creates an account under a unique name, after checking every signature, and
/// gives it a fresh random id. The session is then authenticated as the new account. A
/// REGISTER of a name that the same identity key holds already answers with that account
/// (idempotent, so that a client that lost the answer can ask again); its prekeys are kept.
public struct RegisterAccount: Sendable {
    let accounts: CachedAccounts
    let store: any AccountStore
    let verifier: any SignatureVerifier
    let limits: AccountLimits
    let throttle: AccountThrottle
    let newID: @Sendable () -> AccountID

    public init(store: any AccountStore, accounts: CachedAccounts, verifier: any SignatureVerifier, limits: AccountLimits,
                throttle: AccountThrottle, newID: @escaping @Sendable () -> AccountID = RegisterAccount.randomID) {
        self.throttle = throttle
        self.store = store
        self.accounts = accounts
        self.verifier = verifier
        self.limits = limits
        self.newID = newID
    }

    /// - Parameter source: the client's network address: every attempt from it counts
    ///   against `limits.rate.registrations`, refused ones too (`nil`: not limited).
    /// - Throws: `AccountRequestError.rateLimited` (first), `.invalidName`, `.badSignature`,
    ///   `.duplicatePrekey`, `.tooManyPrekeys`, `.nameTaken`; storage failures as `StoreError`.
    public func callAsFunction(_ registration: AccountRegistration, binding: ChannelBinding, from source: String? = nil) async throws -> Account {
        try throttle.register(from: source)
        let name: AccountName
        do {
            name = try AccountName(registration.name)
        } catch {
            throw AccountRequestError.invalidName(error.description)
        }
        let signingKey = registration.identity.signingKey
        // Every signature is checked before anything is stored; the proof last, as it covers
        // the others through the body.
        try SignatureChecks.identity(registration.identity, verifier: verifier)
        try SignatureChecks.prekey(registration.signedPrekey, signed: true, by: signingKey, verifier: verifier)
        guard registration.oneTimePrekeys.count <= limits.maxOneTimePrekeys else {
            throw AccountRequestError.tooManyPrekeys(held: 0, adding: registration.oneTimePrekeys.count, limit: limits.maxOneTimePrekeys)
        }
        for prekey in registration.oneTimePrekeys {
            try SignatureChecks.prekey(prekey, signed: false, by: signingKey, verifier: verifier)
        }
        try SignatureChecks.noDuplicates(registration.oneTimePrekeys)
        let proven = SignedStatement.registration(nonce: binding.nonce, certificateHash: binding.certificateHash,
                                                  unsignedBody: registration.unsignedBody)
        guard verifier.isValid(registration.proof, of: proven, by: signingKey) else {
            throw AccountRequestError.badSignature("the registration proof")
        }
        // 128 random bits collide practically never; a few retries make it never.
        for _ in 0..<4 {
            let account = Account(id: newID(), name: name, identity: registration.identity)
            do {
                try await store.create(account, signedPrekey: registration.signedPrekey, oneTimePrekeys: registration.oneTimePrekeys)
                accounts.remember(account)
                return account
            } catch AccountStoreError.idTaken {
                continue
            } catch AccountStoreError.nameTaken {
                // The same identity asking again (a client that lost the answer, §5.1): its
                // account, as it is; the proof above showed the key is the caller's.
                guard let existing = try await store.account(named: name), existing.identity == registration.identity else {
                    throw AccountRequestError.nameTaken
                }
                accounts.remember(existing)
                return existing
            } catch let error as AccountStoreError {
                throw error.requestError
            }
        }
        throw AccountRequestError.unavailable("no free account id after 4 draws")
    }

    /// Draws an id from the system's cryptographic random source.
    public static let randomID: @Sendable () -> AccountID = {
        var generator = SystemRandomNumberGenerator()
        return AccountID(bytes: (0..<AccountID.byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) })!
    }
}
