import Application
import Domain
import Foundation
import GRDB

/// The v3 client's state in one SQLite database (`<home>/sealpost-v3.db`), file mode 0600: it
/// holds the identity and prekey private keys and the sessions. It runs in WAL mode with
/// `synchronous = FULL` (a commit survives power loss). Every write is one IMMEDIATE
/// transaction, and a busy database is waited for (up to 10 s), so that several `sealpost`
/// processes on one home are serialized.
public final class SQLiteSecureClientStore: SecureClientStore {
    /// The database's file name in a home.
    public static let fileName = "sealpost-v3.db"

    private let queue: DatabaseQueue

    private init(queue: DatabaseQueue) {
        self.queue = queue
    }

    /// Opens (creating when missing) the database at `path`, readable by the owner only, and
    /// brings its schema up to date.
    ///
    /// - Throws: `ClientError.localState` when the database cannot be opened.
    public static func open(path: String) throws -> SQLiteSecureClientStore {
        do {
            let fd = Foundation.open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ClientError.localState("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            fchmod(fd, 0o600)
            close(fd)
            var configuration = Configuration()
            configuration.label = "sealpost-v3-client"
            configuration.busyMode = .timeout(10)
            // WAL: a commit is one append and one fdatasync, where the rollback journal created,
            // synced and deleted a file per transaction (a quarter of a received message's
            // cost). GRDB then sets `synchronous = NORMAL`, which may lose the last commits on
            // power loss, after which an ACK would have been sent for a message not kept: FULL.
            configuration.journalMode = .wal
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            let (journal, synchronous) = try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                return (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
            }
            guard journal.lowercased() == "wal", synchronous == 2 else {
                throw ClientError.localState("\(path) runs journal_mode=\(journal), synchronous=\(synchronous); WAL and FULL (2) are required")
            }
            try SQLiteSecureClientSchema.migrator.migrate(queue)
            return SQLiteSecureClientStore(queue: queue)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.localState("cannot open the v3 client database \(path): \(error)")
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SecureClientRecords) throws -> T) async throws -> T {
        try await queue.read { db in try body(Records(db: db)) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SecureClientRecords) throws -> T) async throws -> T {
        try await queue.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(Records(db: db))
                return .commit
            }
            return result!
        }
    }

    /// The records inside one transaction.
    struct Records: SecureClientRecords {
        let db: Database

        func identity() throws -> SecureIdentityRecord? {
            guard let row = try Row.fetchOne(db, sql: "SELECT account, name, server, identity_seed, agreement_private_key FROM identity") else {
                return nil
            }
            guard let account = AccountID(bytes: [UInt8](row["account"] as Data)) else { throw ClientError.localState("the stored account id is not 16 bytes") }
            return SecureIdentityRecord(
                account: account, name: row["name"], server: row["server"],
                identitySeed: [UInt8](row["identity_seed"] as Data), agreementPrivateKey: [UInt8](row["agreement_private_key"] as Data))
        }

        func saveIdentity(_ identity: SecureIdentityRecord) throws {
            try db.execute(
                sql: "INSERT OR REPLACE INTO identity (only, account, name, server, identity_seed, agreement_private_key) VALUES (1, ?, ?, ?, ?, ?)",
                arguments: [Data(identity.account.bytes), identity.name, identity.server, Data(identity.identitySeed), Data(identity.agreementPrivateKey)])
        }

        func setServer(_ server: String) throws {
            try db.execute(sql: "UPDATE identity SET server = ?", arguments: [server])
        }

        func pendingRegistration() throws -> SecurePendingRegistration? {
            guard let row = try Row.fetchOne(db, sql: "SELECT name, server, identity_seed, agreement_private_key FROM pending_registration") else {
                return nil
            }
            return SecurePendingRegistration(name: row["name"], server: row["server"], identitySeed: [UInt8](row["identity_seed"] as Data),
                                             agreementPrivateKey: [UInt8](row["agreement_private_key"] as Data))
        }

        func savePendingRegistration(_ pending: SecurePendingRegistration) throws {
            try db.execute(
                sql: "INSERT OR REPLACE INTO pending_registration (only, name, server, identity_seed, agreement_private_key) VALUES (1, ?, ?, ?, ?)",
                arguments: [pending.name, pending.server, Data(pending.identitySeed), Data(pending.agreementPrivateKey)])
        }

        func deletePendingRegistration() throws {
            try db.execute(sql: "DELETE FROM pending_registration")
        }

        func signedPrekeys() throws -> [StoredSignedPrekey] {
            try Row.fetchAll(db, sql: "SELECT id, private_key, created_at, replaced_at FROM signed_prekey ORDER BY id").map { row in
                StoredSignedPrekey(
                    id: UInt32(row["id"] as Int64), privateKey: [UInt8](row["private_key"] as Data),
                    createdAt: UInt64(row["created_at"] as Int64), replacedAt: (row["replaced_at"] as Int64?).map(UInt64.init))
            }
        }

        func addSignedPrekey(id: UInt32, privateKey: [UInt8], now: UInt64) throws {
            try db.execute(sql: "UPDATE signed_prekey SET replaced_at = ? WHERE replaced_at IS NULL", arguments: [Int64(now)])
            try db.execute(sql: "INSERT INTO signed_prekey (id, private_key, created_at) VALUES (?, ?, ?)",
                           arguments: [Int64(id), Data(privateKey), Int64(now)])
        }

        func deleteSignedPrekeys(replacedBefore time: UInt64) throws {
            try db.execute(sql: "DELETE FROM signed_prekey WHERE replaced_at IS NOT NULL AND replaced_at < ?", arguments: [Int64(time)])
        }

        func oneTimePrekeys() throws -> [UInt32: [UInt8]] {
            var keys: [UInt32: [UInt8]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, private_key FROM one_time_prekey") {
                keys[UInt32(row["id"] as Int64)] = [UInt8](row["private_key"] as Data)
            }
            return keys
        }

        func oneTimePrekey(id: UInt32) throws -> [UInt8]? {
            try Data.fetchOne(db, sql: "SELECT private_key FROM one_time_prekey WHERE id = ?", arguments: [Int64(id)]).map { [UInt8]($0) }
        }

        func addOneTimePrekeys(_ prekeys: [(id: UInt32, privateKey: [UInt8])]) throws {
            for prekey in prekeys {
                try db.execute(sql: "INSERT INTO one_time_prekey (id, private_key) VALUES (?, ?)", arguments: [Int64(prekey.id), Data(prekey.privateKey)])
            }
        }

        func deleteOneTimePrekey(id: UInt32) throws {
            try db.execute(sql: "DELETE FROM one_time_prekey WHERE id = ?", arguments: [Int64(id)])
        }

        func deleteAllPrekeys() throws {
            try db.execute(sql: "DELETE FROM signed_prekey; DELETE FROM one_time_prekey")
        }

        func counter(_ name: String) throws -> UInt64 {
            UInt64(try Int64.fetchOne(db, sql: "SELECT value FROM counter WHERE name = ?", arguments: [name]) ?? 0)
        }

        func setCounter(_ name: String, to value: UInt64) throws {
            try db.execute(sql: "INSERT OR REPLACE INTO counter (name, value) VALUES (?, ?)", arguments: [name, Int64(value)])
        }

        func deleteCounter(_ name: String) throws {
            try db.execute(sql: "DELETE FROM counter WHERE name = ?", arguments: [name])
        }

        func pendingUpload(to recipient: AccountID, path: String) throws -> SecurePendingUpload? {
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM pending_upload WHERE recipient = ? AND path = ?",
                                             arguments: [Data(recipient.bytes), path]) else { return nil }
            return SecurePendingUpload(
                recipient: recipient, path: path, attachment: [UInt8](row["attachment"] as Data), key: [UInt8](row["key"] as Data),
                plainSize: UInt64(row["plain_size"] as Int64), modified: row["modified"], fileName: row["file_name"])
        }

        func savePendingUpload(_ upload: SecurePendingUpload) throws {
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO pending_upload (recipient, path, attachment, key, plain_size, modified, file_name)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [Data(upload.recipient.bytes), upload.path, Data(upload.attachment), Data(upload.key), Int64(upload.plainSize),
                            upload.modified, upload.fileName])
        }

        func deletePendingUpload(to recipient: AccountID, path: String) throws {
            try db.execute(sql: "DELETE FROM pending_upload WHERE recipient = ? AND path = ?", arguments: [Data(recipient.bytes), path])
        }

        func addToOutbox(_ item: SecureOutboxItem) throws -> Int64 {
            try db.execute(sql: "INSERT INTO outbox (peer, envelope, kind, body, owner) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Data(item.peer.bytes), Data(item.envelope), item.kind, item.body, item.owner])
            return db.lastInsertedRowID
        }

        func outbox() throws -> [(key: Int64, item: SecureOutboxItem)] {
            try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY seq").compactMap { row in
                guard let peer = AccountID(bytes: [UInt8](row["peer"] as Data)) else { return nil }
                return (row["seq"], SecureOutboxItem(peer: peer, envelope: [UInt8](row["envelope"] as Data), kind: row["kind"], body: row["body"],
                                          owner: row["owner"]))
            }
        }

        func deleteFromOutbox(key: Int64) throws {
            try db.execute(sql: "DELETE FROM outbox WHERE seq = ?", arguments: [key])
        }

        func session(with peer: AccountID) throws -> EndToEndSession? {
            guard let data = try Data.fetchOne(db, sql: "SELECT state FROM session WHERE peer = ?", arguments: [Data(peer.bytes)]) else { return nil }
            return try Self.decodeSession(data)
        }

        func hasSession(with peer: AccountID) throws -> Bool {
            try Int64.fetchOne(db, sql: "SELECT 1 FROM session WHERE peer = ?", arguments: [Data(peer.bytes)]) != nil
        }

        /// A stored session: the binary form (`EndToEndSessionEncoding`), or the JSON that
        /// stores before it wrote (read as it is; the next save writes the binary form).
        static func decodeSession(_ data: Data) throws -> EndToEndSession {
            if EndToEndSessionEncoding.isBinary(data) {
                do { return try EndToEndSessionEncoding.decode([UInt8](data)) } catch {
                    throw ClientError.localState("a stored session cannot be read: \(error)")
                }
            }
            return try JSONDecoder().decode(EndToEndSession.self, from: data)
        }

        func saveSession(_ session: EndToEndSession) throws {
            try db.execute(sql: "INSERT OR REPLACE INTO session (peer, state) VALUES (?, ?)",
                           arguments: [Data(session.remoteAccount), Data(EndToEndSessionEncoding.encode(session))])
        }

        func deleteSession(with peer: AccountID) throws {
            try db.execute(sql: "DELETE FROM session WHERE peer = ?", arguments: [Data(peer.bytes)])
        }

        func archivedSessions(with peer: AccountID) throws -> [(key: Int64, session: EndToEndSession)] {
            try Row.fetchAll(db, sql: "SELECT seq, state FROM archived_session WHERE peer = ? ORDER BY seq DESC", arguments: [Data(peer.bytes)]).map { row in
                (row["seq"], try Self.decodeSession(row["state"] as Data))
            }
        }

        func archiveSession(_ session: EndToEndSession) throws {
            let peer = Data(session.remoteAccount)
            try db.execute(sql: "INSERT INTO archived_session (peer, state) VALUES (?, ?)", arguments: [peer, Data(EndToEndSessionEncoding.encode(session))])
            try db.execute(sql: """
                DELETE FROM archived_session WHERE peer = ? AND seq NOT IN
                    (SELECT seq FROM archived_session WHERE peer = ? ORDER BY seq DESC LIMIT 4)
                """, arguments: [peer, peer])
        }

        func deleteArchivedSession(key: Int64) throws {
            try db.execute(sql: "DELETE FROM archived_session WHERE seq = ?", arguments: [key])
        }

        func contact(id: AccountID) throws -> SecureContact? {
            try Row.fetchOne(db, sql: "SELECT * FROM contact WHERE account = ?", arguments: [Data(id.bytes)]).map(Self.contact)
        }

        func contact(named name: String) throws -> SecureContact? {
            try Row.fetchOne(db, sql: "SELECT * FROM contact WHERE name = ?", arguments: [name]).map(Self.contact)
        }

        func contacts() throws -> [SecureContact] {
            try Row.fetchAll(db, sql: "SELECT * FROM contact ORDER BY name, account").map(Self.contact)
        }

        func saveContact(_ contact: SecureContact) throws {
            if let name = contact.name {
                // A name moves to the account that holds it now.
                try db.execute(sql: "UPDATE contact SET name = NULL WHERE name = ? AND account <> ?", arguments: [name, Data(contact.account.bytes)])
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO contact (account, name, identity, verified, changed_identity) VALUES (?, ?, ?, ?, ?)",
                arguments: [Data(contact.account.bytes), contact.name, Data(contact.identity.storedBytes), contact.verified,
                            contact.changedIdentity.map { Data($0.storedBytes) }])
        }

        private static func contact(_ row: Row) -> SecureContact {
            SecureContact(
                account: AccountID(bytes: [UInt8](row["account"] as Data))!, name: row["name"],
                identity: IdentityKeys(storedBytes: [UInt8](row["identity"] as Data))!, verified: row["verified"],
                changedIdentity: (row["changed_identity"] as Data?).flatMap { IdentityKeys(storedBytes: [UInt8]($0)) })
        }

        func isSeen(messageID id: UInt64) throws -> Bool {
            try Int64.fetchOne(db, sql: "SELECT 1 FROM seen WHERE message_id = ?", arguments: [Int64(bitPattern: id)]) != nil
        }

        func markSeen(messageID id: UInt64, at time: UInt64) throws {
            try db.execute(sql: "INSERT OR IGNORE INTO seen (message_id, seen_at) VALUES (?, ?)", arguments: [Int64(bitPattern: id), Int64(time)])
        }

        func appendHistory(_ entry: SecureHistoryEntry) throws {
            try db.execute(
                sql: "INSERT INTO history (peer, direction, time, kind, body, message_id, shown) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [Data(entry.peer.bytes), entry.direction.rawValue, Int64(entry.time), entry.kind, entry.body,
                            entry.messageID.map { Int64(bitPattern: $0) }, entry.direction == .sent])
        }

        func unshownHistory() throws -> [(key: Int64, entry: SecureHistoryEntry)] {
            try Row.fetchAll(db, sql: "SELECT * FROM history WHERE shown = 0 ORDER BY seq").map { row in
                (row["seq"], Self.entry(row, peer: AccountID(bytes: [UInt8](row["peer"] as Data))!))
            }
        }

        func markShown(messageIDs: [UInt64]) throws {
            for id in messageIDs {
                try db.execute(sql: "UPDATE history SET shown = 1 WHERE message_id = ? AND direction = 'in'", arguments: [Int64(bitPattern: id)])
            }
        }

        private static func entry(_ row: Row, peer: AccountID) -> SecureHistoryEntry {
            SecureHistoryEntry(
                peer: peer, direction: SecureHistoryEntry.Direction(rawValue: row["direction"]) ?? .received,
                time: UInt64(row["time"] as Int64), kind: row["kind"], body: row["body"],
                messageID: (row["message_id"] as Int64?).map { UInt64(bitPattern: $0) })
        }

        func hasReceivedFile(at path: String) throws -> Bool {
            try Int64.fetchOne(db, sql: "SELECT 1 FROM history WHERE kind = 'file' AND direction = 'in' AND body = ? LIMIT 1",
                               arguments: [path]) != nil
        }

        func history(with peer: AccountID) throws -> [SecureHistoryEntry] {
            try Row.fetchAll(db, sql: "SELECT * FROM history WHERE peer = ? ORDER BY seq", arguments: [Data(peer.bytes)]).map { row in
                Self.entry(row, peer: peer)
            }
        }
    }
}
