import Application
import Domain
import Synchronization

/// v3 accounts and their prekeys held in process memory: for tests and for throwaway servers.
///
/// A class behind one lock rather than an actor: every operation is a few look-ups, so callers
/// never suspend for it. Names are keyed by their UTF-8 bytes, not by `String`: Swift compares
/// strings by canonical equivalence, and two names that differ in their bytes (a precomposed
/// "é" and "e" with a combining accent) are two names here, as in the databases.
public final class InMemoryAccountStore: AccountStore {
    private struct Entry {
        var account: Account
        var signedPrekey: Prekey
        /// In the order they were stored: the first is handed out next.
        var oneTimePrekeys: [Prekey]
        var oneTimeIDs: Set<UInt32>
    }

    private struct State {
        var byID: [AccountID: Entry] = [:]
        var byName: [[UInt8]: AccountID] = [:]
        /// Every name's bytes, sorted byte-wise, with its account: the directory's pages.
        var directory: [(name: [UInt8], id: AccountID)] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func create(_ account: Account, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) throws {
        let name = Array(account.name.value.utf8)
        let ids = try Self.distinctIDs(of: oneTimePrekeys)
        try state.withLock { state in
            guard state.byName[name] == nil else { throw AccountStoreError.nameTaken }
            guard state.byID[account.id] == nil else { throw AccountStoreError.idTaken }
            state.byID[account.id] = Entry(
                account: account, signedPrekey: signedPrekey, oneTimePrekeys: oneTimePrekeys, oneTimeIDs: ids)
            state.byName[name] = account.id
            let index = Self.firstIndex(after: name, in: state.directory)
            state.directory.insert((name, account.id), at: index)
        }
    }

    public func account(id: AccountID) -> Account? {
        state.withLock { $0.byID[id]?.account }
    }

    public func account(named name: AccountName) -> Account? {
        state.withLock { state in
            state.byName[Array(name.value.utf8)].flatMap { state.byID[$0]?.account }
        }
    }

    public func accounts(after: String, limit: Int) -> AccountPage {
        let after = Array(after.utf8)
        return state.withLock { state in
            let start = after.isEmpty ? 0 : Self.firstIndex(after: after, in: state.directory)
            let end = start + min(max(limit, 0), state.directory.count - start)
            let accounts = state.directory[start..<end].compactMap { state.byID[$0.id]?.account }
            return AccountPage(accounts: accounts, more: end < state.directory.count)
        }
    }

    public func addOneTimePrekeys(_ prekeys: [Prekey], to account: AccountID, limit: Int) throws -> Int {
        let ids = try Self.distinctIDs(of: prekeys)
        return try state.withLock { state in
            guard var entry = state.byID[account] else { throw AccountStoreError.noSuchAccount }
            if let held = prekeys.first(where: { entry.oneTimeIDs.contains($0.id) }) {
                throw AccountStoreError.duplicatePrekey(held.id)
            }
            let held = entry.oneTimePrekeys.count
            guard held + prekeys.count <= limit else {
                throw AccountStoreError.tooManyPrekeys(held: held, adding: prekeys.count, limit: limit)
            }
            entry.oneTimePrekeys += prekeys
            entry.oneTimeIDs.formUnion(ids)
            state.byID[account] = entry
            return entry.oneTimePrekeys.count
        }
    }

    public func oneTimePrekeyCount(of account: AccountID) -> Int {
        state.withLock { $0.byID[account]?.oneTimePrekeys.count ?? 0 }
    }

    public func replaceSignedPrekey(_ prekey: Prekey, of account: AccountID) throws {
        try state.withLock { state in
            guard state.byID[account] != nil else { throw AccountStoreError.noSuchAccount }
            state.byID[account]?.signedPrekey = prekey
        }
    }

    public func takeBundle(of account: AccountID) -> TakenBundle? {
        state.withLock { state in
            guard var entry = state.byID[account] else { return nil }
            var oneTime: Prekey? = nil
            if !entry.oneTimePrekeys.isEmpty {
                let taken = entry.oneTimePrekeys.removeFirst()
                entry.oneTimeIDs.remove(taken.id)
                oneTime = taken
                state.byID[account] = entry
            }
            let bundle = PrekeyBundle(
                account: account, identity: entry.account.identity, signedPrekey: entry.signedPrekey, oneTimePrekey: oneTime)
            return TakenBundle(bundle: bundle, oneTimePrekeysLeft: entry.oneTimePrekeys.count)
        }
    }

    /// The ids of `prekeys`, which must differ.
    ///
    /// - Throws: `AccountStoreError.duplicatePrekey` for the first id given twice.
    private static func distinctIDs(of prekeys: [Prekey]) throws -> Set<UInt32> {
        var ids = Set<UInt32>()
        for prekey in prekeys where !ids.insert(prekey.id).inserted {
            throw AccountStoreError.duplicatePrekey(prekey.id)
        }
        return ids
    }

    /// The index of the first name in `directory` that sorts byte-wise after `name`.
    private static func firstIndex(after name: [UInt8], in directory: [(name: [UInt8], id: AccountID)]) -> Int {
        var low = 0
        var high = directory.count
        while low < high {
            let middle = (low + high) / 2
            if name.lexicographicallyPrecedes(directory[middle].name) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low
    }
}
