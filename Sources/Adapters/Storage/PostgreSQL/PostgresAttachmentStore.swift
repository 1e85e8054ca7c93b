import Application
import Domain

/// v3 attachments in PostgreSQL, shared by every server process on the database: metadata in
/// `attachments` and `attachment_recipients`, bytes as one `attachment_chunks` row per write.
///
/// An append is one transaction that moves `stored` forward only from the offset it names
/// (`UPDATE … WHERE stored = $offset`) and inserts the chunk, so two writers, in any
/// processes, never both succeed at one offset, and a process killed mid-write leaves
/// `stored` at the last committed chunk. Deleting an attachment row deletes its chunks
/// (`ON DELETE CASCADE`), so nothing is left behind.
///
/// Only the append that completes an attachment waits for its commit to be flushed; the
/// others commit with `synchronous_commit` off, as the SQLite store's appends are not
/// fsynced. `stored` and its chunk commit together, so a crash of the machine (a crash of
/// the server loses nothing) can only take the newest appends back, never leave a hole,
/// and the upload resumes from the `stored` that ATTACH_STATUS reports. The completing
/// commit flushes the WAL, and with it every earlier append.
public final class PostgresAttachmentStore: AttachmentStore {
    private let pool: PostgresConnectionPool
    /// Chunk rows fetched per query while reading.
    private static let readBatch = 32

    /// Expiry's statement (`limits.attachmentTTLDays`), which `attachments_expires_at_idx` serves.
    static let expireSQL = "DELETE FROM attachments WHERE expires_at <= $1"

    init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    public func create(_ attachment: StoredAttachment) async throws {
        try await mappingPostgresErrors {
            try await withConnection { connection in
                try connection.transaction {
                    try connection.execute(
                        prepared: "v3_attach_create",
                        "INSERT INTO attachments (id, uploader, size, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                        [.bytes(attachment.id.bytes), .bytes(attachment.uploader.bytes), .int64(Int64(bitPattern: attachment.size)),
                         .int64(Int64(bitPattern: attachment.createdAt)), .int64(Int64(bitPattern: attachment.expiresAt))])
                    try connection.execute(
                        prepared: "v3_attach_recipients", """
                        INSERT INTO attachment_recipients (attachment, position, recipient, done)
                        SELECT $1, r.ordinality - 1, r.recipient, r.recipient = ANY($3)
                        FROM unnest($2::bytea[]) WITH ORDINALITY AS r (recipient, ordinality)
                        """,
                        [.bytes(attachment.id.bytes), .bytesArray(attachment.recipients.map(\.bytes)),
                         .bytesArray(attachment.done.map(\.bytes))])
                }
            }
        }
    }

    public func attachment(_ id: AttachmentID) async throws -> StoredAttachment? {
        try await mappingPostgresErrors {
            try await withConnection { connection -> StoredAttachment? in
                // One round trip (every write and read asks): a row per recipient, the
                // attachment's columns repeated; recipient NULL when there is none.
                let rows = try connection.execute(
                    prepared: "v3_attach_get_all", """
                    SELECT a.uploader, a.size, a.stored, a.created_at, a.expires_at, r.recipient, r.done
                    FROM attachments a LEFT JOIN attachment_recipients r ON r.attachment = a.id
                    WHERE a.id = $1 ORDER BY r.position
                    """, [.bytes(id.bytes)])
                guard rows.count >= 1 else { return nil }
                guard let uploader = AccountID(bytes: try rows.bytes(0, 0)) else {
                    throw PostgresError(.protocolViolation, message: "attachment \(id) has a malformed uploader")
                }
                var recipients: [AccountID] = []
                var done: Set<AccountID> = []
                for row in 0..<rows.count where !rows.isNull(row, 5) {
                    guard let recipient = AccountID(bytes: try rows.bytes(row, 5)) else { continue }
                    recipients.append(recipient)
                    if try rows.bytes(row, 6) == [1] { done.insert(recipient) }
                }
                return StoredAttachment(
                    id: id, uploader: uploader, recipients: recipients, done: done,
                    size: UInt64(bitPattern: try rows.int(0, 1)), stored: UInt64(bitPattern: try rows.int(0, 2)),
                    createdAt: UInt64(bitPattern: try rows.int(0, 3)), expiresAt: UInt64(bitPattern: try rows.int(0, 4)))
            }
        }
    }

    public func append(to id: AttachmentID, at offset: UInt64, _ bytes: some AttachmentBytes) async throws -> UInt64 {
        let end = offset + UInt64(bytes.count)
        return try await mappingPostgresErrors {
            try await withConnection { connection in
                try connection.transaction {
                    let moved = try connection.execute(
                        prepared: "v3_attach_advance_size",
                        "UPDATE attachments SET stored = $3 WHERE id = $1 AND stored = $2 AND $3 <= size RETURNING size",
                        [.bytes(id.bytes), .int64(Int64(bitPattern: offset)), .int64(Int64(bitPattern: end))])
                    if moved.count == 1, UInt64(bitPattern: try moved.int(0, 0)) > end {
                        // Not the last chunk: its commit need not wait for the WAL flush.
                        try connection.execute("SET LOCAL synchronous_commit TO off")
                    }
                    guard moved.count == 1 else {
                        let rows = try connection.execute(
                            prepared: "v3_attach_offsets", "SELECT stored, size FROM attachments WHERE id = $1", [.bytes(id.bytes)])
                        guard rows.count == 1 else { throw AttachmentStoreError.notFound }
                        let stored = UInt64(bitPattern: try rows.int(0, 0))
                        guard stored == offset else { throw AttachmentStoreError.wrongOffset(stored: stored) }
                        throw AttachmentStoreError.pastEnd(size: UInt64(bitPattern: try rows.int(0, 1)))
                    }
                    // A row per region (consecutive writes gathered into one append keep
                    // their own rows), each copied once into its parameter.
                    var start = offset
                    for part in bytes.withUnsafeRegions({ $0.filter { $0.count > 0 }.map { [UInt8]($0) } }) {
                        let stop = start + UInt64(part.count)
                        try connection.execute(
                            prepared: "v3_attach_chunk",
                            "INSERT INTO attachment_chunks (attachment, end_offset, start_offset, data) VALUES ($1, $2, $3, $4)",
                            [.bytes(id.bytes), .int64(Int64(bitPattern: stop)), .int64(Int64(bitPattern: start)), .bytes(part)])
                        start = stop
                    }
                    return end
                }
            }
        }
    }

    public func read(_ id: AttachmentID, at offset: UInt64, count: Int) async throws -> [UInt8] {
        try await mappingPostgresErrors {
            try await withConnection { connection in
                // The stored offset and the first rows in one statement (one snapshot, one
                // round trip): a row per chunk, `part` NULL when none is in the window.
                let first = try connection.execute(
                    prepared: "v3_attach_read_first", """
                    SELECT a.stored, c.part FROM attachments a
                    LEFT JOIN LATERAL (
                        SELECT substring(data FROM (GREATEST($2 - start_offset, 0) + 1)::integer FOR $3::integer) AS part, end_offset
                        FROM attachment_chunks
                        WHERE attachment = $1 AND end_offset > $2 AND start_offset < $2 + $3
                          AND end_offset <= COALESCE((SELECT min(end_offset) FROM attachment_chunks
                                                      WHERE attachment = $1 AND end_offset >= $2 + $3), $2 + $3)
                        ORDER BY end_offset LIMIT $4) AS c ON true
                    WHERE a.id = $1
                    ORDER BY c.end_offset
                    """,
                    [.bytes(id.bytes), .int64(Int64(bitPattern: offset)), .int64(Int64(min(count, Int(Int32.max)))),
                     .int64(Int64(Self.readBatch))])
                guard first.count >= 1 else { throw AttachmentStoreError.notFound }
                let stored = UInt64(bitPattern: try first.int(0, 0))
                guard offset < stored else { return [] }
                let wanted = Int(min(UInt64(count), stored - offset))
                var bytes: [UInt8] = []
                try Self.take(first, column: 1, into: &bytes, wanted: wanted)
                // Each row gives its part of [position, offset + count): substring() reads
                // only that part of an EXTERNAL value. Chunks are contiguous, so the rows
                // wanted end at the first chunk reaching the window's end: that bound stops
                // the index scan there (without it, the scan filtered every later chunk of
                // the attachment on each read, and a download took time quadratic in its size).
                while bytes.count < wanted {
                    let position = Int64(offset) + Int64(bytes.count)
                    let rows = try connection.execute(
                        prepared: "v3_attach_read_bounded", """
                        SELECT substring(data FROM (GREATEST($2 - start_offset, 0) + 1)::integer FOR $3::integer)
                        FROM attachment_chunks
                        WHERE attachment = $1 AND end_offset > $2 AND start_offset < $2 + $3
                          AND end_offset <= COALESCE((SELECT min(end_offset) FROM attachment_chunks
                                                      WHERE attachment = $1 AND end_offset >= $2 + $3), $2 + $3)
                        ORDER BY end_offset LIMIT $4
                        """,
                        [.bytes(id.bytes), .int64(position), .int64(Int64(wanted - bytes.count)), .int64(Int64(Self.readBatch))])
                    guard rows.count > 0 else { break }
                    try Self.take(rows, column: 0, into: &bytes, wanted: wanted)
                }
                return bytes
            }
        }
    }

    /// Appends the parts in `column` of `rows` (NULLs skipped) to `bytes`, up to `wanted`.
    private static func take(_ rows: PostgresRows, column: Int, into bytes: inout [UInt8], wanted: Int) throws {
        for row in 0..<rows.count where !rows.isNull(row, column) {
            let part = try rows.bytes(row, column)
            if bytes.isEmpty, part.count == wanted {
                bytes = part  // a read of one whole chunk: no second copy
            } else {
                if bytes.isEmpty { bytes.reserveCapacity(wanted) }
                bytes.append(contentsOf: part.prefix(wanted - bytes.count))
            }
        }
    }

    public func markDone(_ id: AttachmentID, by recipient: AccountID) async throws -> Int {
        try await mappingPostgresErrors {
            try await withConnection { connection in
                try connection.transaction {
                    let marked = try connection.execute(
                        prepared: "v3_attach_done",
                        "UPDATE attachment_recipients SET done = true WHERE attachment = $1 AND recipient = $2",
                        [.bytes(id.bytes), .bytes(recipient.bytes)])
                    guard marked.affected > 0 else { throw AttachmentStoreError.notFound }
                    // Locks the attachment so that two last recipients cannot both miss the other.
                    _ = try connection.execute(
                        prepared: "v3_attach_lock", "SELECT 1 FROM attachments WHERE id = $1 FOR UPDATE", [.bytes(id.bytes)])
                    let left = try connection.execute(
                        prepared: "v3_attach_left",
                        "SELECT count(*) FROM attachment_recipients WHERE attachment = $1 AND NOT done", [.bytes(id.bytes)])
                    let count = Int(try left.int(0, 0))
                    if count == 0 {
                        try connection.execute(prepared: "v3_attach_delete", "DELETE FROM attachments WHERE id = $1", [.bytes(id.bytes)])
                    }
                    return count
                }
            }
        }
    }

    public func delete(_ id: AttachmentID) async throws -> Bool {
        try await mappingPostgresErrors {
            try await withConnection { connection in
                try connection.execute(prepared: "v3_attach_delete", "DELETE FROM attachments WHERE id = $1", [.bytes(id.bytes)]).affected > 0
            }
        }
    }

    public func expire(now: UInt64) async throws -> Int {
        // Chunks go with their attachment (ON DELETE CASCADE): no orphan can exist.
        try await mappingPostgresErrors {
            try await withConnection { connection in
                try connection.execute(
                    prepared: "v3_attach_expire", Self.expireSQL, [.int64(Int64(bitPattern: now))]).affected
            }
        }
    }

    public func usage() async throws -> AttachmentUsage {
        try await mappingPostgresErrors {
            try await withConnection { connection in
                let rows = try connection.execute("""
                    SELECT (SELECT count(*) FROM attachments), count(*), COALESCE(sum(length(data)), 0)::bigint FROM attachment_chunks
                    """)
                return AttachmentUsage(
                    attachments: Int(try rows.int(0, 0)), storageUnits: Int(try rows.int(0, 1)), bytes: UInt64(try rows.int(0, 2)))
            }
        }
    }

    /// `pool.withConnection`, letting an `AttachmentStoreError` thrown by `body` through as it
    /// is (the pool reports only its own failures).
    private func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let outcome = try await pool.withConnection { connection -> Result<T, AttachmentStoreError> in
            do {
                return .success(try body(connection))
            } catch let error as AttachmentStoreError {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}
