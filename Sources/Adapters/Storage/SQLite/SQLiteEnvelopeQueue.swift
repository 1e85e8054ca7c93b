import Application
import Domain
import Foundation
import GRDB

/// The v3 envelope queue in the `envelopes` table; an envelope's id is its row id.
///
/// `enqueue` and `acknowledge` go through group commit: concurrent calls share one
/// transaction and one fsync. Leases are held in memory (`SQLiteLeaseBook`): the store serves
/// one process, and after a crash every envelope simply waits again. A lease of a small inbox
/// takes its rows from memory (`SQLiteInboxCache`, kept by the commit thread after each
/// commit); any other picks its rows on the writer connection, between commits. Either way it
/// never sees a row already deleted nor misses one already stored, and it writes nothing, so
/// it costs no fsync.
public final class SQLiteEnvelopeQueue: EnvelopeQueue {
    /// One write of a group commit.
    enum Write: Sendable {
        /// Returns the new row's id.
        case insert(recipient: Data, sender: Data, storedAt: Int64, envelope: [UInt8])
        /// Deletes the rows among `ids` addressed to `recipient`; returns their ids.
        case delete(recipient: Data, ids: [Int64])
        /// Inserts unless the inbox would pass `cap`; returns the new row's id, or
        /// `refusedInboxFull` or `refusedSenderShare` alone.
        case insertCapped(recipient: Data, sender: Data, storedAt: Int64, envelope: [UInt8], cap: InboxCap)
        /// Deletes the rows stored before `storedAt`; returns their ids.
        case expire(storedBefore: Int64)
    }

    /// What `insertCapped` returns for a refusal (row ids are positive).
    static let refusedInboxFull: Int64 = -1
    static let refusedSenderShare: Int64 = -2
    /// Expiry's statements (`limits.messageTTLDays`), which `envelopes_by_stored_at` serves.
    static let expiredSQL = "SELECT id FROM envelopes WHERE stored_at < ?"
    static let expireSQL = "DELETE FROM envelopes WHERE stored_at < ?"

    private let pool: DatabasePool
    private let book = SQLiteLeaseBook()
    private let batcher: SQLiteCommitBatcher<Write, [Int64]>
    private let tally: SQLiteInboxTally
    private let cache: SQLiteInboxCache

    init(pool: DatabasePool, maxBatch: Int) {
        self.pool = pool
        let tally = SQLiteInboxTally()
        let cache = SQLiteInboxCache()
        self.tally = tally
        self.cache = cache
        self.batcher = SQLiteCommitBatcher(maxBatch: maxBatch, name: "sealpost-v3queue") { batch in
            let expiring = batch.contains { if case .expire = $0 { true } else { false } }
            if expiring { cache.suspend() }
            let results: [[Int64]]
            do {
                results = try pool.write { db in try Self.apply(batch, to: db, tally: tally) }
            } catch {
                // The tally may hold changes that were rolled back.
                tally.reset()
                if expiring { cache.resume(forgetting: false) }
                throw error
            }
            // Committed: the cache learns it before any caller resumes.
            Self.update(cache, after: batch, results)
            if expiring { cache.resume(forgetting: results.contains { !$0.isEmpty }) }
            return results
        }
    }

    /// How many group-commit transactions have run, for tests.
    var transactions: Int { batcher.transactions }

    /// How many envelopes are leased, for tests.
    public var leasedCount: Int { book.leasedCount }

    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) async throws -> MessageID {
        let write = Write.insert(
            recipient: Data(recipient.bytes), sender: Data(sender.bytes), storedAt: Int64(bitPattern: storedAt), envelope: envelope)
        let ids = try await SQLiteErrors.mapping { try await batcher.submit(write) }
        guard let id = ids.first else { throw StoreError.unavailable("an insert returned no row id") }
        return MessageID(UInt64(id))
    }

    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                        within cap: InboxCap) async throws -> InboxAdmission {
        let write = Write.insertCapped(
            recipient: Data(recipient.bytes), sender: Data(sender.bytes), storedAt: Int64(bitPattern: storedAt),
            envelope: envelope, cap: cap)
        let ids = try await SQLiteErrors.mapping { try await batcher.submit(write) }
        switch ids.first {
        case nil: throw StoreError.unavailable("an insert returned no row id")
        case Self.refusedInboxFull: return .inboxFull
        case Self.refusedSenderShare: return .senderShareFull
        case let id?: return .stored(MessageID(UInt64(id)))
        }
    }

    public func expire(storedBefore cutoff: UInt64) async throws -> Int {
        let deleted = try await SQLiteErrors.mapping {
            try await batcher.submit(.expire(storedBefore: Int64(clamping: cutoff)))
        }
        book.forget(deleted)
        return deleted.count
    }

    public func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) async throws -> [QueuedEnvelope] {
        guard limit > 0 else { return [] }
        let key = Data(recipient.bytes)
        let (book, cache, tally) = (self.book, self.cache, self.tally)
        if let leased = cache.lease(key, account: recipient, book: book, holder: holder, limit: limit, until: until) {
            return leased
        }
        return try await SQLiteErrors.mapping {
            try await pool.writeWithoutTransaction { db in
                let statement = try db.cachedStatement(
                    sql: "SELECT id, sender, stored_at, envelope, length(envelope) FROM envelopes WHERE recipient = ? ORDER BY id")
                let rows = try Row.fetchCursor(statement, arguments: [key])
                // Reads the whole inbox, to follow it in the cache, while it is small enough
                // (the tally, when it knows the inbox, says so before a row is read).
                var following = cache.wantsToFollow(key)
                    && tally.known(key).map { $0.messages <= cache.maxInboxRows && $0.bytes <= cache.maxInboxBytes } ?? true
                var all: [SQLiteInboxCache.Row] = []
                var allBytes = 0
                var picked: [QueuedEnvelope] = []
                while following || picked.count < limit, let row = try rows.next() {
                    let id: Int64 = row[0]
                    if following {
                        let size: Int = row[4]
                        allBytes += size
                        if all.count == cache.maxInboxRows || allBytes > cache.maxInboxBytes {
                            following = false
                            all = []
                        }
                    }
                    if following {
                        let envelope = try Self.envelope(from: row, id: id, recipient: recipient)
                        all.append(SQLiteInboxCache.Row(id: id, sender: envelope.sender, storedAt: envelope.storedAt, envelope: envelope.envelope))
                        if picked.count < limit, !book.isLeased(id) { picked.append(envelope) }
                    } else if picked.count < limit, !book.isLeased(id) {
                        // Only the id of a row passed over is decoded.
                        picked.append(try Self.envelope(from: row, id: id, recipient: recipient))
                    }
                }
                if following { cache.follow(key, rows: all) }
                // Taken in one step: a lease served by the cache meanwhile may have taken some.
                let taken = Set(book.take(unleased: picked.lazy.map { Int64($0.id.rawValue) }, limit: limit, for: holder, until: until))
                return picked.filter { taken.contains(Int64($0.id.rawValue)) }
            }
        }
    }

    public func acknowledge(_ ids: [MessageID], for recipient: AccountID) async throws -> Int {
        let rowIDs = Set(ids.compactMap { Int64(exactly: $0.rawValue) })
        guard !rowIDs.isEmpty else { return 0 }
        let deleted = try await SQLiteErrors.mapping {
            try await batcher.submit(.delete(recipient: Data(recipient.bytes), ids: Array(rowIDs)))
        }
        book.forget(deleted)
        return deleted.count
    }

    public func renew(_ holder: LeaseHolder, until: UInt64) {
        book.renew(holder, until: until)
    }

    public func release(_ holder: LeaseHolder) {
        book.release(holder)
    }

    public func expireLeases(now: UInt64) -> Int {
        book.expire(now: now)
    }

    public func waitingCount(for recipient: AccountID) async throws -> Int {
        let key = Data(recipient.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM envelopes WHERE recipient = ?", arguments: [key]) ?? 0
            }
        }
    }

    /// Commits what is queued and stops the commit thread.
    func stop() async {
        await batcher.stop()
    }

    /// Applies one group commit's writes, in order, in the caller's transaction. Blocking.
    private static func apply(_ batch: [Write], to db: Database, tally: SQLiteInboxTally) throws -> [[Int64]] {
        try batch.map { write in
            switch write {
            case .insert(let recipient, let sender, let storedAt, let envelope):
                try db.cachedStatement(sql: "INSERT INTO envelopes (recipient, sender, stored_at, envelope) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [recipient, sender, storedAt, Data(envelope)])
                tally.record(recipient, from: sender, bytes: envelope.count, sign: 1)
                return [db.lastInsertedRowID]
            case .insertCapped(let recipient, let sender, let storedAt, let envelope, let cap):
                // The writer is the only one: what the tally says stays true until its insert.
                let usage = try tally.usage(of: recipient, from: sender, in: db)
                switch cap.refusal(adding: envelope.count, waiting: usage) {
                case .inboxFull?: return [refusedInboxFull]
                case .senderShareFull?, .stored?: return [refusedSenderShare]
                case nil: break
                }
                try db.cachedStatement(sql: "INSERT INTO envelopes (recipient, sender, stored_at, envelope) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [recipient, sender, storedAt, Data(envelope)])
                tally.record(recipient, from: sender, bytes: envelope.count, sign: 1)
                return [db.lastInsertedRowID]
            case .expire(let cutoff):
                let ids = try Int64.fetchAll(db.cachedStatement(sql: expiredSQL), arguments: [cutoff])
                try db.cachedStatement(sql: expireSQL).execute(arguments: [cutoff])
                if !ids.isEmpty { tally.reset() }
                return ids
            case .delete(let recipient, let ids):
                // One statement per id: the row goes only if it is the recipient's, and what it
                // held leaves the tally.
                let delete = try db.cachedStatement(
                    sql: "DELETE FROM envelopes WHERE id = ? AND recipient = ? RETURNING sender, length(envelope)")
                var deleted: [Int64] = []
                for id in ids {
                    guard let row = try Row.fetchOne(delete, arguments: [id, recipient]) else { continue }
                    tally.record(recipient, from: row[0], bytes: row[1], sign: -1)
                    deleted.append(id)
                }
                return deleted
            }
        }
    }

    /// Tells `cache` what a committed batch stored and deleted. Blocking (a lock).
    private static func update(_ cache: SQLiteInboxCache, after batch: [Write], _ results: [[Int64]]) {
        for (write, result) in zip(batch, results) {
            switch write {
            case .insert(let recipient, let sender, let storedAt, let envelope),
                 .insertCapped(let recipient, let sender, let storedAt, let envelope, _):
                guard let id = result.first, id > 0, let senderID = AccountID(bytes: sender) else { continue }
                cache.stored(SQLiteInboxCache.Row(id: id, sender: senderID, storedAt: UInt64(bitPattern: storedAt), envelope: envelope),
                             for: recipient)
            case .delete(let recipient, _):
                cache.deleted(result, for: recipient)
            case .expire:
                break  // the cache forgets everything (`resume(forgetting:)`)
            }
        }
    }

    private static func envelope(from row: Row, id: Int64, recipient: AccountID) throws -> QueuedEnvelope {
        let sender: Data = row[1]
        guard let senderID = AccountID(bytes: sender) else {
            throw StoreError.unavailable("envelope \(id) has a sender of \(sender.count) bytes, not 16")
        }
        let envelope: Data = row[3]
        return QueuedEnvelope(
            id: MessageID(UInt64(id)), recipient: recipient, sender: senderID,
            storedAt: UInt64(bitPattern: row[2] as Int64), envelope: [UInt8](envelope))
    }
}
