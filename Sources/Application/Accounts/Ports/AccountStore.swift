import Domain

/// A v3 account as the server keeps it (docs/protocol-v3.md §5.1): its id, its unique name and
/// its public identity. Its prekeys live beside it in the same store.
public struct Account: Hashable, Sendable {
    public let id: AccountID
    public let name: AccountName
    public let identity: IdentityKeys

    public init(id: AccountID, name: AccountName, identity: IdentityKeys) {
        self.id = id
        self.name = name
        self.identity = identity
    }
}

/// One page of the account directory, in byte-wise name order (§5.7).
public struct AccountPage: Hashable, Sendable {
    public let accounts: [Account]
    /// Whether names follow the last one in `accounts`.
    public let more: Bool

    public init(accounts: [Account], more: Bool) {
        self.accounts = accounts
        self.more = more
    }
}

/// A prekey bundle handed out by `AccountStore.takeBundle(of:)`, with the number of one-time
/// prekeys the account has left after it.
public struct TakenBundle: Hashable, Sendable {
    public let bundle: PrekeyBundle
    public let oneTimePrekeysLeft: Int

    public init(bundle: PrekeyBundle, oneTimePrekeysLeft: Int) {
        self.bundle = bundle
        self.oneTimePrekeysLeft = oneTimePrekeysLeft
    }
}

/// Why an `AccountStore` refused a change. The store-level failures (`StoreError`) are apart.
public enum AccountStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Another account has this name (byte for byte).
    case nameTaken
    /// The drawn account id exists already; draw another.
    case idTaken
    /// A one-time prekey id the account already holds, or one given twice in one call.
    case duplicatePrekey(UInt32)
    /// The account would hold more one-time prekeys than the limit.
    case tooManyPrekeys(held: Int, adding: Int, limit: Int)
    /// No account has this id.
    case noSuchAccount

    public var description: String {
        switch self {
        case .nameTaken: "the name is taken"
        case .idTaken: "the account id is taken"
        case .duplicatePrekey(let id): "prekey id \(id) is already stored or given twice"
        case .tooManyPrekeys(let held, let adding, let limit): "\(held) one-time prekeys held, \(adding) more would pass the limit of \(limit)"
        case .noSuchAccount: "no such account"
        }
    }
}

/// Where v3 accounts and their prekeys live: one aggregate, so an account and its first prekeys
/// are created together and a bundle is taken in one step.
///
/// Contract (checked by the shared storage suite for every adapter):
/// - Names are unique byte for byte; ids are unique.
/// - Accounts are never removed, so an answer found may be cached.
/// - `takeBundle` removes the one-time prekey it hands out in the same transaction that reads
///   it: two callers, even in two processes sharing a database, never get the same one. It
///   hands out the account's one-time prekeys in the order they were stored.
/// - Everything is durable (in the durable stores) when the call returns.
public protocol AccountStore: Sendable {
    /// Adds `account` with its signed prekey and first one-time prekeys, all or nothing.
    ///
    /// - Throws: `AccountStoreError.nameTaken`, `.idTaken`, `.duplicatePrekey` (twice in
    ///   `oneTimePrekeys`); `StoreError.unavailable`.
    func create(_ account: Account, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws

    /// The account with `id`, or `nil`.
    func account(id: AccountID) async throws -> Account?

    /// The account named exactly `name`, or `nil`.
    func account(named name: AccountName) async throws -> Account?

    /// Up to `limit` accounts whose names sort byte-wise after `after` (all of them when `after`
    /// is empty), in that order, and whether more follow.
    func accounts(after: String, limit: Int) async throws -> AccountPage

    /// Stores more one-time prekeys for `account`, all or nothing, and returns how many it holds
    /// afterwards.
    ///
    /// - Throws: `AccountStoreError.noSuchAccount`, `.duplicatePrekey` (an id already held or
    ///   given twice), `.tooManyPrekeys` (more than `limit` afterwards).
    func addOneTimePrekeys(_ prekeys: [Prekey], to account: AccountID, limit: Int) async throws -> Int

    /// How many one-time prekeys `account` holds (0 for an unknown account).
    func oneTimePrekeyCount(of account: AccountID) async throws -> Int

    /// Replaces the signed prekey of `account`; bundles taken afterwards carry the new one.
    ///
    /// - Throws: `AccountStoreError.noSuchAccount`.
    func replaceSignedPrekey(_ prekey: Prekey, of account: AccountID) async throws

    /// The bundle of `account` with its oldest one-time prekey, which is removed in the same
    /// step; without one when none is left. `nil` for an unknown account.
    func takeBundle(of account: AccountID) async throws -> TakenBundle?
}
