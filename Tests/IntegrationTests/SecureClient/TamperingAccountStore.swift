import Adapters
import Application
import Domain
import Synchronization

/// A malicious server's account store: the real store, except that bundles can be handed out
/// under an attacker's identity keys, or without their one-time prekey.
final class TamperingAccountStore: AccountStore {
    enum Mode: Sendable {
        case honest
        /// Every bundle carries these keys instead of the owner's (signed by them, so it checks out).
        case swapIdentity(AccountKeys)
        /// Bundles come without a one-time prekey.
        case withholdOneTimePrekeys
    }

    let inner: any AccountStore
    let mode = Mutex(Mode.honest)
    /// How often the one-time prekeys were counted: once per successful AUTH (its answer
    /// carries the count), and once per PREKEY_COUNT.
    let prekeyCounts = Mutex(0)

    init(_ inner: any AccountStore) {
        self.inner = inner
    }

    func create(_ account: Account, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws {
        try await inner.create(account, signedPrekey: signedPrekey, oneTimePrekeys: oneTimePrekeys)
    }

    func account(id: AccountID) async throws -> Account? { try await inner.account(id: id) }
    func account(named name: AccountName) async throws -> Account? { try await inner.account(named: name) }
    func accounts(after: String, limit: Int) async throws -> AccountPage { try await inner.accounts(after: after, limit: limit) }

    func addOneTimePrekeys(_ prekeys: [Prekey], to account: AccountID, limit: Int) async throws -> Int {
        try await inner.addOneTimePrekeys(prekeys, to: account, limit: limit)
    }

    func oneTimePrekeyCount(of account: AccountID) async throws -> Int {
        prekeyCounts.withLock { $0 += 1 }
        return try await inner.oneTimePrekeyCount(of: account)
    }

    func replaceSignedPrekey(_ prekey: Prekey, of account: AccountID) async throws {
        try await inner.replaceSignedPrekey(prekey, of: account)
    }

    func takeBundle(of account: AccountID) async throws -> TakenBundle? {
        switch mode.withLock({ $0 }) {
        case .honest:
            return try await inner.takeBundle(of: account)
        case .swapIdentity(let attacker):
            let bundle = PrekeyBundle(account: account, identity: attacker.identity, signedPrekey: try attacker.publicSignedPrekey(), oneTimePrekey: nil)
            return TakenBundle(bundle: bundle, oneTimePrekeysLeft: 50)
        case .withholdOneTimePrekeys:
            guard let taken = try await inner.takeBundle(of: account) else { return nil }
            let bundle = PrekeyBundle(account: account, identity: taken.bundle.identity, signedPrekey: taken.bundle.signedPrekey, oneTimePrekey: nil)
            return TakenBundle(bundle: bundle, oneTimePrekeysLeft: taken.oneTimePrekeysLeft)
        }
    }
}
