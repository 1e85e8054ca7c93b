import Domain

/// UPLOAD_PREKEYS, COUNT_PREKEYS and REPLACE_SIGNED_PREKEY (docs/protocol-v3.md §5.3–§5.5):
/// the authenticated account's own prekeys.
public struct ManagePrekeys: Sendable {
    let accounts: CachedAccounts
    let store: any AccountStore
    let verifier: any SignatureVerifier
    let limits: AccountLimits

    public init(store: any AccountStore, accounts: CachedAccounts, verifier: any SignatureVerifier, limits: AccountLimits) {
        self.store = store
        self.accounts = accounts
        self.verifier = verifier
        self.limits = limits
    }

    /// Stores one-time prekeys, every signature checked first; one bad signature refuses all.
    ///
    /// - Returns: the one-time prekeys the account holds afterwards.
    /// - Throws: `AccountRequestError.badSignature`, `.duplicatePrekey`, `.tooManyPrekeys`.
    public func upload(_ prekeys: [Prekey], for id: AccountID) async throws -> Int {
        let account = try await owner(id)
        for prekey in prekeys {
            try SignatureChecks.prekey(prekey, signed: false, by: account.identity.signingKey, verifier: verifier)
        }
        try SignatureChecks.noDuplicates(prekeys)
        do {
            return try await store.addOneTimePrekeys(prekeys, to: id, limit: limits.maxOneTimePrekeys)
        } catch let error as AccountStoreError {
            throw error.requestError
        }
    }

    /// The one-time prekeys the account holds.
    public func count(for id: AccountID) async throws -> Int {
        try await store.oneTimePrekeyCount(of: id)
    }

    /// Replaces the signed prekey after checking its signature.
    ///
    /// - Throws: `AccountRequestError.badSignature`.
    public func replaceSigned(_ prekey: Prekey, for id: AccountID) async throws {
        let account = try await owner(id)
        try SignatureChecks.prekey(prekey, signed: true, by: account.identity.signingKey, verifier: verifier)
        do {
            try await store.replaceSignedPrekey(prekey, of: id)
        } catch let error as AccountStoreError {
            throw error.requestError
        }
    }

    private func owner(_ id: AccountID) async throws -> Account {
        guard let account = try await accounts.account(id: id) else { throw AccountRequestError.noSuchAccount }
        return account
    }
}
