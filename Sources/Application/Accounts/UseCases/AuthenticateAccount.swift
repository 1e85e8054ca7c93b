import Domain

/// AUTHENTICATE: proves that the session speaks for an account (docs/protocol-v3.md §5.2), by
/// the account's identity signing key over the connection's channel binding.
public struct AuthenticateAccount: Sendable {
    let accounts: CachedAccounts
    let store: any AccountStore
    let verifier: any SignatureVerifier
    let throttle: AccountThrottle

    public init(store: any AccountStore, accounts: CachedAccounts, verifier: any SignatureVerifier, throttle: AccountThrottle) {
        self.throttle = throttle
        self.store = store
        self.accounts = accounts
        self.verifier = verifier
    }

    /// - Returns: the account and how many one-time prekeys it has left.
    /// - Parameter source: the client's network address; its failures count against
    ///   `limits.rate.failedAuthentications` (`nil`: not limited).
    /// - Throws: `AccountRequestError.rateLimited` while `source`'s failures are spent (the
    ///   signature is not even checked); `.authenticationFailed` for an unknown account or a
    ///   wrong signature alike.
    public func callAsFunction(account id: AccountID, signature: Signature, binding: ChannelBinding,
                               from source: String? = nil) async throws -> (account: Account, oneTimePrekeysLeft: Int) {
        try throttle.authenticate(from: source)
        let statement = SignedStatement.authentication(nonce: binding.nonce, account: id, certificateHash: binding.certificateHash)
        guard let account = try await accounts.account(id: id),
              verifier.isValid(signature, of: statement, by: account.identity.signingKey) else {
            throttle.authenticationFailed(from: source)
            throw AccountRequestError.authenticationFailed
        }
        return (account, try await store.oneTimePrekeyCount(of: id))
    }
}
