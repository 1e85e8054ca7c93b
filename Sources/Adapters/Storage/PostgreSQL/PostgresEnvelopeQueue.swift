import Application
import Domain

/// The v3 envelope queue in PostgreSQL, shared by every server process on the database.
///
/// A lease is two columns of the envelope's row (`leased_by`, `leased_until`), taken with
/// `FOR UPDATE SKIP LOCKED`: two sessions leasing at once, in any processes, never take the
/// same envelope, and neither waits for the other. Ids come from an identity column, so they
/// are unique across processes and ascend in storing order. Lease times past `Int64.max` ms
/// are kept as `Int64.max` (never), holders as their bit pattern.
///
/// Concurrent `enqueue`s share one multi-row INSERT (one commit), concurrent capped ones one
/// transaction, and concurrent `acknowledge`s one DELETE (`PostgresBatcher`): each returns
/// once its statement or transaction committed. Every lease and acknowledgement leaves dead
/// row versions; the queue vacuums its table itself as they add up (`PostgresChurnVacuum`).
public final class PostgresEnvelopeQueue: EnvelopeQueue {
    /// One envelope to store.
    struct Insert: Sendable {
        let recipient: [UInt8]
        let sender: [UInt8]
        let storedAt: Int64
        let envelope: [UInt8]
    }

    /// One ACK: ids (distinct) of `recipient`'s envelopes to delete.
    private struct Delete: Sendable {
        let recipient: [UInt8]
        let ids: [Int64]
    }

    /// Expiry's statement (`limits.messageTTLDays`), which `envelopes_stored_at_idx` serves.
    static let expireSQL = "DELETE FROM envelopes WHERE stored_at < $1"

    private let pool: PostgresConnectionPool
    private let inserts: PostgresBatcher<Insert, Int64>
    private let deletes: PostgresBatcher<Delete, Int>
    private let cappedInserts: PostgresBatcher<CappedInsert, InboxAdmission>
    /// Counts the rows leases and acknowledgements leave dead, and vacuums the table.
    private let vacuum: PostgresChurnVacuum

    /// - Parameter batchLimit: the most envelopes (or ACKs) one statement writes.
    /// - Parameter vacuumEvery: dead rows (leased or deleted) between two vacuums of the table.
    init(pool: PostgresConnectionPool, batchLimit: Int = 512, vacuumEvery: Int = 20_000) {
        self.pool = pool
        let vacuum = PostgresChurnVacuum(table: "envelopes", threshold: vacuumEvery, pool: pool)
        self.vacuum = vacuum
        self.inserts = PostgresBatcher(limit: batchLimit) { batch in try await Self.insert(batch, pool: pool) }
        self.deletes = PostgresBatcher(limit: batchLimit) { batch in
            let deleted = try await Self.delete(batch, pool: pool)
            vacuum.died(deleted.reduce(0, +))
            return deleted
        }
        self.cappedInserts = PostgresBatcher(limit: batchLimit) { batch in
            try await pool.withConnection { connection in try Self.insertCapped(batch, on: connection) }
        }
    }

    /// How many vacuums of the table this queue started, for tests.
    var vacuumsStarted: Int { vacuum.runs }

    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) async throws -> MessageID {
        try await mappingPostgresErrors {
            let id = try await inserts.submit(Insert(
                recipient: recipient.bytes, sender: sender.bytes, storedAt: Int64(bitPattern: storedAt), envelope: envelope))
            return MessageID(UInt64(bitPattern: id))
        }
    }

    /// The cap holds across processes: concurrent capped enqueues share one transaction
    /// (`insertCapped`), which first takes an advisory lock named after each recipient, so
    /// that the enqueues into one inbox, from any processes, count and insert one batch after
    /// another; enqueues into other inboxes do not wait.
    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                        within cap: InboxCap) async throws -> InboxAdmission {
        try await mappingPostgresErrors {
            try await cappedInserts.submit(CappedInsert(
                insert: Insert(recipient: recipient.bytes, sender: sender.bytes, storedAt: Int64(bitPattern: storedAt), envelope: envelope),
                cap: cap))
        }
    }

    public func expire(storedBefore cutoff: UInt64) async throws -> Int {
        try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_expire_old", Self.expireSQL,
                    [.int64(Int64(clamping: cutoff))]).affected
            }
        }
    }

    private static func insert(_ batch: [Insert], pool: PostgresConnectionPool) async throws -> [Int64] {
        // One statement, one commit.
        try await pool.withConnection { connection in try insertRows(batch, on: connection) }
    }

    /// Inserts `batch` in one statement; returns the new ids in the batch's order. Blocking.
    static func insertRows(_ batch: [Insert], on connection: PostgresConnection) throws -> [Int64] {
        guard !batch.isEmpty else { return [] }
        // Identity values are drawn in ORDER BY order, so the sorted ids match the batch's order.
        let rows = try connection.execute(prepared: "v3_enqueue_batch", """
            INSERT INTO envelopes (recipient, sender, stored_at, envelope)
            SELECT r, s, t, e
            FROM unnest($1::bytea[], $2::bytea[], $3::int8[], $4::bytea[]) WITH ORDINALITY AS v(r, s, t, e, n)
            ORDER BY n
            RETURNING id
            """, [.bytesArray(batch.map(\.recipient)), .bytesArray(batch.map(\.sender)),
                  .int64Array(batch.map(\.storedAt)), .bytesArray(batch.map(\.envelope))])
        let ids = try (0..<rows.count).map { try rows.int($0, 0) }.sorted()
        guard ids.count == batch.count else {
            throw PostgresError(.protocolViolation, message: "inserted \(ids.count) envelopes for a batch of \(batch.count)")
        }
        return ids
    }

    public func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) async throws -> [QueuedEnvelope] {
        guard limit > 0 else { return [] }
        return try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                // Committed without waiting for the WAL flush (synchronous_commit off for this
                // statement's transaction alone): the lease is visible to every other session
                // at once, as before; only a crash of PostgreSQL itself could forget it, and a
                // forgotten lease is one that ran out (the envelope is delivered again).
                try connection.execute(prepared: "v3_lease_async", """
                    WITH async AS (SELECT set_config('synchronous_commit', 'off', true) AS done)
                    UPDATE envelopes SET leased_by = $2, leased_until = $3
                    WHERE id IN (
                        SELECT id FROM envelopes WHERE recipient = $1 AND leased_by IS NULL
                        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
                      AND (SELECT done FROM async) IS NOT NULL
                    RETURNING id, sender, stored_at, envelope
                    """, [
                        .bytes(recipient.bytes), .int64(Int64(bitPattern: holder.rawValue)),
                        .int64(Int64(clamping: until)), .int64(Int64(limit)),
                    ])
            }
            var leased: [QueuedEnvelope] = []
            leased.reserveCapacity(rows.count)
            for row in 0..<rows.count {
                let id = try rows.int(row, 0)
                guard let sender = AccountID(bytes: try rows.bytes(row, 1)) else {
                    throw PostgresError(.protocolViolation, message: "envelope \(id) has a malformed sender")
                }
                leased.append(QueuedEnvelope(
                    id: MessageID(UInt64(bitPattern: id)), recipient: recipient, sender: sender,
                    storedAt: UInt64(bitPattern: try rows.int(row, 2)), envelope: try rows.bytes(row, 3)))
            }
            // Each leased row left its old version dead.
            vacuum.died(leased.count)
            // RETURNING does not promise an order.
            return leased.sorted { $0.id < $1.id }
        }
    }

    public func acknowledge(_ ids: [MessageID], for recipient: AccountID) async throws -> Int {
        let rowIDs = Array(Set(ids.map { Int64(bitPattern: $0.rawValue) }))
        guard !rowIDs.isEmpty else { return 0 }
        return try await mappingPostgresErrors {
            try await deletes.submit(Delete(recipient: recipient.bytes, ids: rowIDs))
        }
    }

    private static func delete(_ batch: [Delete], pool: PostgresConnectionPool) async throws -> [Int] {
        var recipients: [[UInt8]] = []
        var ids: [Int64] = []
        for delete in batch {
            for id in delete.ids {
                recipients.append(delete.recipient)
                ids.append(id)
            }
        }
        let binds: [PostgresBind] = [.bytesArray(recipients), .int64Array(ids)]
        let rows = try await pool.withConnection { connection in
            // A row goes only when both its id and its recipient match: an ACK never deletes
            // another account's envelope.
            try connection.execute(prepared: "v3_acknowledge_batch", """
                DELETE FROM envelopes e USING unnest($1::bytea[], $2::int8[]) AS v(r, i)
                WHERE e.id = v.i AND e.recipient = v.r
                RETURNING e.id
                """, binds)
        }
        let deleted = Set(try (0..<rows.count).map { try rows.int($0, 0) })
        // Each ACK counts those of its ids that went (two ACKs of one id in one batch both
        // count it: harmless, both asked for it to go).
        return batch.map { delete in delete.ids.reduce(0) { $0 + (deleted.contains($1) ? 1 : 0) } }
    }

    public func renew(_ holder: LeaseHolder, until: UInt64) async throws {
        try await mappingPostgresErrors {
            _ = try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_renew", "UPDATE envelopes SET leased_until = $2 WHERE leased_by = $1",
                    [.int64(Int64(bitPattern: holder.rawValue)), .int64(Int64(clamping: until))])
            }
        }
    }

    public func release(_ holder: LeaseHolder) async throws {
        try await mappingPostgresErrors {
            _ = try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_release", "UPDATE envelopes SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1",
                    [.int64(Int64(bitPattern: holder.rawValue))])
            }
        }
    }

    public func expireLeases(now: UInt64) async throws -> Int {
        try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_expire",
                    "UPDATE envelopes SET leased_by = NULL, leased_until = NULL WHERE leased_by IS NOT NULL AND leased_until < $1",
                    [.int64(Int64(clamping: now))]).affected
            }
        }
    }

    public func waitingCount(for recipient: AccountID) async throws -> Int {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_waiting", "SELECT count(*) FROM envelopes WHERE recipient = $1", [.bytes(recipient.bytes)])
            }
            return Int(try rows.int(0, 0))
        }
    }
}
