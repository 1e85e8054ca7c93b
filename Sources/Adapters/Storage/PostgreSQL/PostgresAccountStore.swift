import Application
import Domain

/// v3 accounts and their prekeys in PostgreSQL, shared by every server process on the
/// database.
///
/// Each change is one transaction, committed with `synchronous_commit = on`. Taking a bundle
/// deletes the oldest one-time prekey with `FOR UPDATE SKIP LOCKED` in the transaction that
/// reads it: two takers, in any processes, never get the same prekey, and neither waits for
/// the other's.
public final class PostgresAccountStore: AccountStore {
    private let pool: PostgresConnectionPool

    init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    public func create(_ account: Account, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws {
        try Self.checkDistinct(oneTimePrekeys)
        let identity = account.identity
        do {
            try await withConnection { connection in
                try connection.transaction {
                    try connection.execute(
                        "INSERT INTO accounts (id, name, signing_key, dh_key, dh_key_signature) VALUES ($1, $2, $3, $4, $5)",
                        [
                            .bytes(account.id.bytes), .text(account.name.value), .bytes(identity.signingKey.bytes),
                            .bytes(identity.agreementKey.bytes), .bytes(identity.agreementKeySignature.bytes),
                        ])
                    try connection.execute(
                        "INSERT INTO signed_prekeys (account, prekey_id, public_key, signature) VALUES ($1, $2, $3, $4)",
                        [.bytes(account.id.bytes), .int64(Int64(signedPrekey.id)), .bytes(signedPrekey.publicKey.bytes), .bytes(signedPrekey.signature.bytes)])
                    try Self.insert(oneTimePrekeys, of: account.id, on: connection)
                }
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            switch error.constraint {
            case "accounts_name_key": throw AccountStoreError.nameTaken
            case "accounts_pkey": throw AccountStoreError.idTaken
            default: throw error.storeError
            }
        } catch let error as PostgresError {
            throw error.storeError
        }
    }

    public func account(id: AccountID) async throws -> Account? {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute(prepared: "v3_account_by_id", "\(Self.selectAccount) WHERE id = $1", [.bytes(id.bytes)])
            }
            return rows.count == 0 ? nil : try Self.account(in: rows, at: 0)
        }
    }

    public func account(named name: AccountName) async throws -> Account? {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute(prepared: "v3_account_by_name", "\(Self.selectAccount) WHERE name = $1", [.text(name.value)])
            }
            return rows.count == 0 ? nil : try Self.account(in: rows, at: 0)
        }
    }

    public func accounts(after: String, limit: Int) async throws -> AccountPage {
        let limit = min(max(limit, 0), Int(Int32.max))
        // PostgreSQL text cannot hold U+0000, and no name holds it either: every name sorts
        // after "x\0…" exactly when it sorts after "x", so the rest is dropped.
        let after = after.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return try await mappingPostgresErrors {
            // One more than asked tells whether more follow. The column's collation is "C".
            let rows = try await pool.withConnection { connection in
                try connection.execute(
                    "\(Self.selectAccount) WHERE name > $1 ORDER BY name LIMIT $2", [.text(after), .int64(Int64(limit) + 1)])
            }
            let accounts = try (0..<min(rows.count, limit)).map { try Self.account(in: rows, at: $0) }
            return AccountPage(accounts: accounts, more: rows.count > limit)
        }
    }

    public func addOneTimePrekeys(_ prekeys: [Prekey], to account: AccountID, limit: Int) async throws -> Int {
        try Self.checkDistinct(prekeys)
        do {
            return try await withConnection { connection in
                try connection.transaction {
                    // Locking the account row orders concurrent uploads, so the count holds.
                    let found = try connection.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", [.bytes(account.bytes)])
                    guard found.count == 1 else { throw AccountStoreError.noSuchAccount }
                    let held = try connection.execute("SELECT prekey_id FROM one_time_prekeys WHERE account = $1", [.bytes(account.bytes)])
                    let heldIDs = Set(try (0..<held.count).map { try held.int($0, 0) })
                    if let duplicate = prekeys.first(where: { heldIDs.contains(Int64($0.id)) }) {
                        throw AccountStoreError.duplicatePrekey(duplicate.id)
                    }
                    guard heldIDs.count + prekeys.count <= limit else {
                        throw AccountStoreError.tooManyPrekeys(held: heldIDs.count, adding: prekeys.count, limit: limit)
                    }
                    try Self.insert(prekeys, of: account, on: connection)
                    return heldIDs.count + prekeys.count
                }
            }
        } catch let error as PostgresError {
            throw error.storeError
        }
    }

    public func oneTimePrekeyCount(of account: AccountID) async throws -> Int {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_prekey_count", "SELECT count(*) FROM one_time_prekeys WHERE account = $1", [.bytes(account.bytes)])
            }
            return Int(try rows.int(0, 0))
        }
    }

    public func replaceSignedPrekey(_ prekey: Prekey, of account: AccountID) async throws {
        let rows = try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.execute(
                    "UPDATE signed_prekeys SET prekey_id = $2, public_key = $3, signature = $4 WHERE account = $1",
                    [.bytes(account.bytes), .int64(Int64(prekey.id)), .bytes(prekey.publicKey.bytes), .bytes(prekey.signature.bytes)])
            }
        }
        // Every account has its signed prekey row from the start.
        guard rows.affected == 1 else { throw AccountStoreError.noSuchAccount }
    }

    public func takeBundle(of account: AccountID) async throws -> TakenBundle? {
        try await mappingPostgresErrors {
            try await pool.withConnection { connection -> TakenBundle? in
                try connection.transaction { () -> TakenBundle? in
                    let key = PostgresBind.bytes(account.bytes)
                    let found = try connection.execute(prepared: "v3_account_by_id", "\(Self.selectAccount) WHERE id = $1", [key])
                    guard found.count == 1 else { return nil }
                    let stored = try Self.account(in: found, at: 0)
                    let signed = try connection.execute(
                        prepared: "v3_signed_prekey", "SELECT prekey_id, public_key, signature FROM signed_prekeys WHERE account = $1", [key])
                    guard signed.count == 1 else {
                        throw PostgresError(.protocolViolation, message: "account \(account) has no signed prekey")
                    }
                    // The oldest prekey no other taker is removing right now; a taker never waits.
                    let taken = try connection.execute(prepared: "v3_take_prekey", """
                        DELETE FROM one_time_prekeys WHERE (account, seq) = (
                            SELECT account, seq FROM one_time_prekeys WHERE account = $1
                            ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                        RETURNING prekey_id, public_key, signature
                        """, [key])
                    let left = try connection.execute(
                        prepared: "v3_prekey_count", "SELECT count(*) FROM one_time_prekeys WHERE account = $1", [key])
                    let bundle = PrekeyBundle(
                        account: account, identity: stored.identity, signedPrekey: try Self.prekey(in: signed, at: 0),
                        oneTimePrekey: taken.count == 1 ? try Self.prekey(in: taken, at: 0) : nil)
                    return TakenBundle(bundle: bundle, oneTimePrekeysLeft: Int(try left.int(0, 0)))
                }
            }
        }
    }

    /// `pool.withConnection`, letting an `AccountStoreError` thrown by `body` through as it
    /// is (the pool reports only its own failures).
    private func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let outcome = try await pool.withConnection { connection -> Result<T, AccountStoreError> in
            do {
                return .success(try body(connection))
            } catch let error as AccountStoreError {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    private static let selectAccount = "SELECT id, name, signing_key, dh_key, dh_key_signature FROM accounts"

    /// Appends `prekeys` to the one-time prekeys of `account`, in order, in one statement.
    /// Blocking.
    private static func insert(_ prekeys: [Prekey], of account: AccountID, on connection: PostgresConnection) throws {
        guard !prekeys.isEmpty else { return }
        try connection.execute("""
            INSERT INTO one_time_prekeys (account, prekey_id, public_key, signature)
            SELECT $1, p.id, p.key, p.signature
            FROM unnest($2::bigint[], $3::bytea[], $4::bytea[]) WITH ORDINALITY AS p(id, key, signature, n)
            ORDER BY p.n
            """, [
                .bytes(account.bytes), .int64Array(prekeys.map { Int64($0.id) }),
                .bytesArray(prekeys.map(\.publicKey.bytes)), .bytesArray(prekeys.map(\.signature.bytes)),
            ])
    }

    /// - Throws: `AccountStoreError.duplicatePrekey` for the first id given twice.
    private static func checkDistinct(_ prekeys: [Prekey]) throws {
        var ids = Set<UInt32>()
        for prekey in prekeys where !ids.insert(prekey.id).inserted {
            throw AccountStoreError.duplicatePrekey(prekey.id)
        }
    }

    private static func account(in rows: PostgresRows, at row: Int) throws -> Account {
        guard let id = AccountID(bytes: try rows.bytes(row, 0)) else {
            throw PostgresError(.protocolViolation, message: "a stored account id is not 16 bytes")
        }
        do {
            return Account(
                id: id, name: try AccountName(try rows.text(row, 1)),
                identity: IdentityKeys(
                    signingKey: try SigningPublicKey(bytes: try rows.bytes(row, 2)),
                    agreementKey: try AgreementPublicKey(bytes: try rows.bytes(row, 3)),
                    agreementKeySignature: try Signature(bytes: try rows.bytes(row, 4))))
        } catch let error as AccountError {
            throw PostgresError(.protocolViolation, message: "account \(id) is stored malformed: \(error)")
        }
    }

    private static func prekey(in rows: PostgresRows, at row: Int) throws -> Prekey {
        guard let id = UInt32(exactly: try rows.int(row, 0)) else {
            throw PostgresError(.protocolViolation, message: "a stored prekey id is out of range")
        }
        do {
            return Prekey(
                id: id, publicKey: try AgreementPublicKey(bytes: try rows.bytes(row, 1)),
                signature: try Signature(bytes: try rows.bytes(row, 2)))
        } catch let error as AccountError {
            throw PostgresError(.protocolViolation, message: "prekey \(id) is stored malformed: \(error)")
        }
    }
}
