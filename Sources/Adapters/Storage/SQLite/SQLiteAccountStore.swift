import Application
import Domain
import Foundation
import GRDB

/// v3 accounts and their prekeys in the `accounts`, `signed_prekeys` and `one_time_prekeys`
/// tables.
///
/// Every change is one transaction on the writer connection, durable when it returns
/// (`synchronous = FULL`); taking a bundle is a write too, since it deletes the one-time
/// prekey it hands out. Look-ups read on the pool's reader connections.
public final class SQLiteAccountStore: AccountStore {
    private let pool: DatabasePool

    init(pool: DatabasePool) {
        self.pool = pool
    }

    public func create(_ account: Account, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws {
        try Self.checkDistinct(oneTimePrekeys)
        let id = Data(account.id.bytes)
        let identity = account.identity
        try await SQLiteErrors.mapping {
            try await pool.write { db in
                do {
                    try db.execute(
                        sql: "INSERT INTO accounts (id, name, signing_key, dh_key, dh_key_signature) VALUES (?, ?, ?, ?, ?)",
                        arguments: [
                            id, account.name.value, Data(identity.signingKey.bytes), Data(identity.agreementKey.bytes),
                            Data(identity.agreementKeySignature.bytes),
                        ])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    // Two UNIQUE columns: ask which one clashed rather than parse the message.
                    if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = ?)", arguments: [account.name.value]) == true {
                        throw AccountStoreError.nameTaken
                    }
                    throw AccountStoreError.idTaken
                }
                try db.execute(
                    sql: "INSERT INTO signed_prekeys (account, prekey_id, public_key, signature) VALUES (?, ?, ?, ?)",
                    arguments: [id, Int64(signedPrekey.id), Data(signedPrekey.publicKey.bytes), Data(signedPrekey.signature.bytes)])
                try Self.insert(oneTimePrekeys, of: id, in: db)
            }
        }
    }

    public func account(id: AccountID) async throws -> Account? {
        let key = Data(id.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "\(Self.selectAccount) WHERE id = ?", arguments: [key]).map(Self.account(from:))
            }
        }
    }

    public func account(named name: AccountName) async throws -> Account? {
        try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "\(Self.selectAccount) WHERE name = ?", arguments: [name.value]).map(Self.account(from:))
            }
        }
    }

    public func accounts(after: String, limit: Int) async throws -> AccountPage {
        let limit = min(max(limit, 0), Int(Int32.max))
        return try await SQLiteErrors.mapping {
            try await pool.read { db in
                // One more than asked tells whether more follow.
                let rows = try Row.fetchAll(
                    db, sql: "\(Self.selectAccount) WHERE name > ? ORDER BY name LIMIT ?", arguments: [after, limit + 1])
                return AccountPage(accounts: try rows.prefix(limit).map(Self.account(from:)), more: rows.count > limit)
            }
        }
    }

    public func addOneTimePrekeys(_ prekeys: [Prekey], to account: AccountID, limit: Int) async throws -> Int {
        try Self.checkDistinct(prekeys)
        let id = Data(account.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.write { db in
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?)", arguments: [id]) == true else {
                    throw AccountStoreError.noSuchAccount
                }
                let held = Set(try Int64.fetchAll(db, sql: "SELECT prekey_id FROM one_time_prekeys WHERE account = ?", arguments: [id]))
                if let duplicate = prekeys.first(where: { held.contains(Int64($0.id)) }) {
                    throw AccountStoreError.duplicatePrekey(duplicate.id)
                }
                guard held.count + prekeys.count <= limit else {
                    throw AccountStoreError.tooManyPrekeys(held: held.count, adding: prekeys.count, limit: limit)
                }
                try Self.insert(prekeys, of: id, in: db)
                return held.count + prekeys.count
            }
        }
    }

    public func oneTimePrekeyCount(of account: AccountID) async throws -> Int {
        let id = Data(account.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM one_time_prekeys WHERE account = ?", arguments: [id]) ?? 0
            }
        }
    }

    public func replaceSignedPrekey(_ prekey: Prekey, of account: AccountID) async throws {
        let id = Data(account.bytes)
        try await SQLiteErrors.mapping {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE signed_prekeys SET prekey_id = ?, public_key = ?, signature = ? WHERE account = ?",
                    arguments: [Int64(prekey.id), Data(prekey.publicKey.bytes), Data(prekey.signature.bytes), id])
                // Every account has its signed prekey row from the start.
                guard db.changesCount == 1 else { throw AccountStoreError.noSuchAccount }
            }
        }
    }

    public func takeBundle(of account: AccountID) async throws -> TakenBundle? {
        let id = Data(account.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.write { db -> TakenBundle? in
                guard let row = try Row.fetchOne(db, sql: "\(Self.selectAccount) WHERE id = ?", arguments: [id]) else { return nil }
                let stored = try Self.account(from: row)
                guard let signedRow = try Row.fetchOne(
                    db, sql: "SELECT prekey_id, public_key, signature FROM signed_prekeys WHERE account = ?", arguments: [id])
                else {
                    throw StoreError.unavailable("account \(account) has no signed prekey")
                }
                var oneTime: Prekey? = nil
                if let oneTimeRow = try Row.fetchOne(
                    db, sql: "SELECT seq, prekey_id, public_key, signature FROM one_time_prekeys WHERE account = ? ORDER BY seq LIMIT 1",
                    arguments: [id])
                {
                    oneTime = try Self.prekey(from: oneTimeRow)
                    try db.execute(sql: "DELETE FROM one_time_prekeys WHERE seq = ?", arguments: [oneTimeRow["seq"] as Int64])
                }
                let left = try Int.fetchOne(db, sql: "SELECT count(*) FROM one_time_prekeys WHERE account = ?", arguments: [id]) ?? 0
                let bundle = PrekeyBundle(
                    account: account, identity: stored.identity, signedPrekey: try Self.prekey(from: signedRow), oneTimePrekey: oneTime)
                return TakenBundle(bundle: bundle, oneTimePrekeysLeft: left)
            }
        }
    }

    private static let selectAccount = "SELECT id, name, signing_key, dh_key, dh_key_signature FROM accounts"

    /// Appends `prekeys` to the one-time prekeys of the account `id`, in order. Blocking.
    private static func insert(_ prekeys: [Prekey], of id: Data, in db: Database) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO one_time_prekeys (account, prekey_id, public_key, signature) VALUES (?, ?, ?, ?)")
        for prekey in prekeys {
            try statement.execute(arguments: [id, Int64(prekey.id), Data(prekey.publicKey.bytes), Data(prekey.signature.bytes)])
        }
    }

    /// - Throws: `AccountStoreError.duplicatePrekey` for the first id given twice.
    private static func checkDistinct(_ prekeys: [Prekey]) throws {
        var ids = Set<UInt32>()
        for prekey in prekeys where !ids.insert(prekey.id).inserted {
            throw AccountStoreError.duplicatePrekey(prekey.id)
        }
    }

    private static func account(from row: Row) throws -> Account {
        let idBytes: Data = row["id"]
        guard let id = AccountID(bytes: idBytes) else {
            throw StoreError.unavailable("a stored account id is \(idBytes.count) bytes, not 16")
        }
        do {
            return Account(
                id: id, name: try AccountName(row["name"] as String),
                identity: IdentityKeys(
                    signingKey: try SigningPublicKey(bytes: row["signing_key"] as Data),
                    agreementKey: try AgreementPublicKey(bytes: row["dh_key"] as Data),
                    agreementKeySignature: try Signature(bytes: row["dh_key_signature"] as Data)))
        } catch {
            throw StoreError.unavailable("account \(id) is stored malformed: \(error)")
        }
    }

    private static func prekey(from row: Row) throws -> Prekey {
        guard let id = UInt32(exactly: row["prekey_id"] as Int64) else {
            throw StoreError.unavailable("a stored prekey id is out of range")
        }
        do {
            return Prekey(
                id: id, publicKey: try AgreementPublicKey(bytes: row["public_key"] as Data),
                signature: try Signature(bytes: row["signature"] as Data))
        } catch {
            throw StoreError.unavailable("prekey \(id) is stored malformed: \(error)")
        }
    }
}
