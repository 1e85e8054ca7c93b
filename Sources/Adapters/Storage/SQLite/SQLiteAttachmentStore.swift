import Application
import Domain
import Foundation
import GRDB
import Synchronization

/// v3 attachments for the SQLite store: metadata in the `attachments` and
/// `attachment_recipients` tables, bytes in files beside the database
/// (`<path>.attachments/<id>.att`, `AttachmentFiles`).
///
/// A file's length is its attachment's stored offset, so appending costs no database write:
/// after kill -9 the upload resumes where the file ends. A row is written before its file
/// exists and deleted before its file is, so a file without a row is an orphan, which
/// `expire` removes.
///
/// Every ATTACH_WRITE and ATTACH_READ looks its attachment up, so the rows this process has
/// read or written are kept in memory (`Known`): SQLite serves one process only (README), so
/// only this process changes them, and each change here drops or replaces its entry. A
/// look-up then costs what the in-memory store's does, the file's length; a row not known
/// is read with that length in one hop on the database's queue.
public final class SQLiteAttachmentStore: AttachmentStore {
    private let pool: DatabasePool
    private let files: AttachmentFiles

    /// Expiry's statements (`limits.attachmentTTLDays`), which `attachments_by_expiry` serves.
    static let expiredSQL = "SELECT id FROM attachments WHERE expires_at <= ?"
    static let expireSQL = "DELETE FROM attachments WHERE expires_at <= ?"

    /// Rows by id, `stored` left at 0 (it is the file's length, read at each look-up).
    /// `epoch` moves on every change, so a look-up that raced one does not put back the
    /// row it read before. Cleared past `maxKnown`.
    private struct Known {
        var records: [AttachmentID: StoredAttachment] = [:]
        var epoch: UInt64 = 0
    }
    private let known = Mutex(Known())
    private static let maxKnown = 4096

    init(pool: DatabasePool, directory: String) {
        self.pool = pool
        self.files = AttachmentFiles(path: directory)
    }

    public func create(_ attachment: StoredAttachment) async throws {
        try await files.create()
        try await SQLiteErrors.mapping {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO attachments (id, uploader, size, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [Data(attachment.id.bytes), Data(attachment.uploader.bytes), Int64(bitPattern: attachment.size),
                                Int64(bitPattern: attachment.createdAt), Int64(bitPattern: attachment.expiresAt)])
                let insert = try db.cachedStatement(
                    sql: "INSERT INTO attachment_recipients (attachment, position, recipient, done) VALUES (?, ?, ?, ?)")
                for (position, recipient) in attachment.recipients.enumerated() {
                    try insert.execute(arguments: [
                        Data(attachment.id.bytes), position, Data(recipient.bytes), attachment.done.contains(recipient) ? 1 : 0,
                    ])
                }
            }
        }
        let record = InMemoryAttachmentStore.with(attachment, stored: 0)
        known.withLock { known in
            known.epoch += 1
            Self.insert(record, into: &known)
        }
    }

    public func attachment(_ id: AttachmentID) async throws -> StoredAttachment? {
        if let record = known.withLock({ $0.records[id] }) {
            return InMemoryAttachmentStore.with(record, stored: try await files.length(id))
        }
        return try await load(id, withLength: true)
    }

    public func append(to id: AttachmentID, at offset: UInt64, _ bytes: some AttachmentBytes) async throws -> UInt64 {
        guard let size = try await size(of: id) else { throw AttachmentStoreError.notFound }
        return try await files.append(id, at: offset, bytes, size: size)
    }

    public func read(_ id: AttachmentID, at offset: UInt64, count: Int) async throws -> [UInt8] {
        guard try await size(of: id) != nil else { throw AttachmentStoreError.notFound }
        return try await files.read(id, at: offset, count: count)
    }

    public func markDone(_ id: AttachmentID, by recipient: AccountID) async throws -> Int {
        let key = Data(id.bytes)
        let left: Int? = try await SQLiteErrors.mapping {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE attachment_recipients SET done = 1 WHERE attachment = ? AND recipient = ?",
                    arguments: [key, Data(recipient.bytes)])
                guard db.changesCount > 0 else { return nil }
                let left = try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM attachment_recipients WHERE attachment = ? AND done = 0", arguments: [key]) ?? 0
                if left == 0 { try db.execute(sql: "DELETE FROM attachments WHERE id = ?", arguments: [key]) }
                return left
            }
        }
        guard let left else { throw AttachmentStoreError.notFound }
        forget([id])  // its done set changed; read again when next asked
        if left == 0 { await files.remove([id]) }
        return left
    }

    public func delete(_ id: AttachmentID) async throws -> Bool {
        let deleted = try await SQLiteErrors.mapping {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM attachments WHERE id = ?", arguments: [Data(id.bytes)])
                return db.changesCount > 0
            }
        }
        if deleted {
            forget([id])
            await files.remove([id])
        }
        return deleted
    }

    public func expire(now: UInt64) async throws -> Int {
        let expired: [AttachmentID] = try await SQLiteErrors.mapping {
            try await pool.write { db in
                let ids = try Data.fetchAll(db, sql: Self.expiredSQL, arguments: [Int64(bitPattern: now)])
                try db.execute(sql: Self.expireSQL, arguments: [Int64(bitPattern: now)])
                return ids.compactMap { AttachmentID(bytes: $0) }
            }
        }
        // Then the files of no row: deleted rows whose unlink never happened (a crash).
        let rows = try await knownIDs()
        let orphans = try await files.list().map(\.id).filter { !rows.contains($0) }
        forget(expired + orphans)
        await files.remove(expired + orphans)
        return expired.count
    }

    public func usage() async throws -> AttachmentUsage {
        let listed = try await files.list()
        let count = try await SQLiteErrors.mapping {
            try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM attachments") ?? 0 }
        }
        return AttachmentUsage(attachments: count, storageUnits: listed.count, bytes: listed.reduce(0) { $0 + $1.length })
    }

    private func knownIDs() async throws -> Set<AttachmentID> {
        try await SQLiteErrors.mapping {
            try await pool.read { db in
                Set(try Data.fetchAll(db, sql: "SELECT id FROM attachments").compactMap { AttachmentID(bytes: $0) })
            }
        }
    }

    private func size(of id: AttachmentID) async throws -> UInt64? {
        if let size = known.withLock({ $0.records[id]?.size }) { return size }
        return try await load(id, withLength: false)?.size
    }

    private static func insert(_ record: StoredAttachment, into known: inout Known) {
        if known.records.count >= maxKnown { known.records.removeAll() }
        known.records[record.id] = record
    }

    private func forget(_ ids: [AttachmentID]) {
        known.withLock { known in
            known.epoch += 1
            for id in ids { known.records[id] = nil }
        }
    }

    /// The row of `id`, with `stored` its file's length when `withLength` (read on the
    /// database's queue, never an event loop), else 0; keeps it in `known` unless something
    /// changed meanwhile.
    private func load(_ id: AttachmentID, withLength: Bool) async throws -> StoredAttachment? {
        let key = Data(id.bytes)
        let files = self.files
        let epoch = known.withLock { $0.epoch }
        let found = try await SQLiteErrors.mapping {
            try await pool.read { db -> StoredAttachment? in
                guard let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT uploader, size, created_at, expires_at FROM attachments WHERE id = ?"),
                    arguments: [key]) else {
                    return nil
                }
                let uploaderBytes: Data = row[0]
                guard let uploader = AccountID(bytes: uploaderBytes) else {
                    throw StoreError.unavailable("attachment \(id) has a malformed uploader")
                }
                var recipients: [AccountID] = []
                var done: Set<AccountID> = []
                for recipientRow in try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT recipient, done FROM attachment_recipients WHERE attachment = ? ORDER BY position"),
                    arguments: [key]) {
                    let bytes: Data = recipientRow[0]
                    guard let recipient = AccountID(bytes: bytes) else { continue }
                    recipients.append(recipient)
                    if (recipientRow[1] as Int64) != 0 { done.insert(recipient) }
                }
                return StoredAttachment(
                    id: id, uploader: uploader, recipients: recipients, done: done,
                    size: UInt64(bitPattern: row[1] as Int64), stored: withLength ? try files.lengthNow(id) : 0,
                    createdAt: UInt64(bitPattern: row[2] as Int64), expiresAt: UInt64(bitPattern: row[3] as Int64))
            }
        }
        if let found {
            let record = InMemoryAttachmentStore.with(found, stored: 0)
            known.withLock { known in
                if known.epoch == epoch { Self.insert(record, into: &known) }
            }
        }
        return found
    }
}
