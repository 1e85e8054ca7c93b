import Application
import Domain

/// The v3 envelope queue in PostgreSQL, shared by every server process on the database.
///
/// A lease is two columns of the envelope's row (`leased_by`, `leased_until`), taken with
/// `FOR UPDATE SKIP LOCKED`: two sessions leasing at once, in any processes, never take the
/// same envelope, and neither waits for the other. Ids come from an identity column, so they
/// are unique across processes and ascend in storing order. Lease times past `Int64.max` ms
/// are kept as `Int64.max` (never), holders as their bit pattern.
public final class PostgresEnvelopeQueue: EnvelopeQueue {
    private let pool: PostgresConnectionPool

    init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) async throws -> MessageID {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute(prepared: "v3_enqueue", """
                    INSERT INTO envelopes (recipient, sender, stored_at, envelope) VALUES ($1, $2, $3, $4) RETURNING id
                    """, [.bytes(recipient.bytes), .bytes(sender.bytes), .int64(Int64(bitPattern: storedAt)), .bytes(envelope)])
            }
            return MessageID(UInt64(bitPattern: try rows.int(0, 0)))
        }
    }

    /// The cap holds across processes: the transaction first takes an advisory lock named
    /// after the recipient, so the enqueues into one inbox, from any processes, count and
    /// insert one after another; enqueues into other inboxes do not wait.
    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                        within cap: InboxCap) async throws -> InboxAdmission {
        try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.transaction { () throws -> InboxAdmission in
                    _ = try connection.execute(
                        prepared: "v3_inbox_lock",
                        "SELECT pg_advisory_xact_lock(hashtextextended('sealpost.inbox.' || encode($1, 'hex'), 0))",
                        [.bytes(recipient.bytes)])
                    // octet_length of a bytea kept out of line reads its size from the
                    // TOAST pointer, not the value.
                    let rows = try connection.execute(prepared: "v3_inbox_usage", """
                        SELECT count(*)::bigint, coalesce(sum(octet_length(envelope)), 0)::bigint,
                               (count(*) FILTER (WHERE sender = $2))::bigint,
                               coalesce(sum(octet_length(envelope)) FILTER (WHERE sender = $2), 0)::bigint
                        FROM envelopes WHERE recipient = $1
                        """, [.bytes(recipient.bytes), .bytes(sender.bytes)])
                    let usage = InboxUsage(
                        messages: Int(try rows.int(0, 0)), bytes: Int(try rows.int(0, 1)),
                        senderMessages: Int(try rows.int(0, 2)), senderBytes: Int(try rows.int(0, 3)))
                    if let refusal = cap.refusal(adding: envelope.count, waiting: usage) { return refusal }
                    let inserted = try connection.execute(prepared: "v3_enqueue", """
                        INSERT INTO envelopes (recipient, sender, stored_at, envelope) VALUES ($1, $2, $3, $4) RETURNING id
                        """, [.bytes(recipient.bytes), .bytes(sender.bytes), .int64(Int64(bitPattern: storedAt)), .bytes(envelope)])
                    return .stored(MessageID(UInt64(bitPattern: try inserted.int(0, 0))))
                }
            }
        }
    }

    public func expire(storedBefore cutoff: UInt64) async throws -> Int {
        try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_expire_old", "DELETE FROM envelopes WHERE stored_at < $1",
                    [.int64(Int64(clamping: cutoff))]).affected
            }
        }
    }

    public func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) async throws -> [QueuedEnvelope] {
        guard limit > 0 else { return [] }
        return try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute(prepared: "v3_lease", """
                    UPDATE envelopes SET leased_by = $2, leased_until = $3
                    WHERE id IN (
                        SELECT id FROM envelopes WHERE recipient = $1 AND leased_by IS NULL
                        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
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
            // RETURNING does not promise an order.
            return leased.sorted { $0.id < $1.id }
        }
    }

    public func acknowledge(_ ids: [MessageID], for recipient: AccountID) async throws -> Int {
        let rowIDs = Array(Set(ids.map { Int64(bitPattern: $0.rawValue) }))
        guard !rowIDs.isEmpty else { return 0 }
        return try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.execute(
                    prepared: "v3_acknowledge", "DELETE FROM envelopes WHERE recipient = $1 AND id = ANY($2)",
                    [.bytes(recipient.bytes), .int64Array(rowIDs)]).affected
            }
        }
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
