import Application
import Domain
import Synchronization

/// A large upload: one pooled connection holding an open transaction.
///
/// Chunk rows are inserted as the pieces arrive (at most one chunk is buffered) and the
/// message row at `commit()`, which also COMMITs, so nothing is visible before. If the
/// process dies, PostgreSQL rolls the transaction back: an interrupted upload leaves no rows.
final class PostgresMessageUpload: MessageUpload {
    private struct State {
        var connection: PostgresConnection?
        var buffer: [UInt8] = []
        var written: UInt64 = 0
        var nextSeq: Int32 = 0
        var busy = false
    }

    private let header: MessageHeader
    private let blobID: Int64
    private let pool: PostgresConnectionPool
    private let chunkSize: Int
    private let state: Mutex<State>

    /// Checks out a connection from `pool`, opens the transaction and draws the blob id.
    static func begin(_ header: MessageHeader, pool: PostgresConnectionPool, chunkSize: Int) async throws -> PostgresMessageUpload {
        let connection = try await pool.checkout()
        do {
            let blobID = try await pool.run(on: connection) { connection in
                try connection.execute("BEGIN")
                return try connection.execute("SELECT nextval('message_blob_seq')").int(0, 0)
            }
            return PostgresMessageUpload(header: header, blobID: blobID, connection: connection, pool: pool, chunkSize: chunkSize)
        } catch {
            pool.checkin(connection)
            throw error
        }
    }

    private init(header: MessageHeader, blobID: Int64, connection: PostgresConnection, pool: PostgresConnectionPool, chunkSize: Int) {
        self.header = header
        self.blobID = blobID
        self.pool = pool
        self.chunkSize = max(1, chunkSize)
        self.state = Mutex(State(connection: connection))
    }

    deinit {
        // Dropped without commit or abort: give the connection back; its next holder rolls
        // the transaction back before using it.
        if let connection = state.withLock({ $0.connection }) {
            pool.checkin(connection)
        }
    }

    func write(_ chunk: [UInt8]) async throws {
        let declared = UInt64(header.contentSize)
        let step: Result<(PostgresConnection, [[UInt8]], Int32)?, StoreError> = state.withLock { state in
            guard let connection = state.connection, !state.busy else {
                return .failure(.notFound("upload of blob \(blobID) is finished or busy"))
            }
            state.written += UInt64(chunk.count)
            guard state.written <= declared else { return .failure(.sizeMismatch(declared: declared, written: state.written)) }
            state.buffer += chunk
            guard state.buffer.count >= chunkSize else { return .success(nil) }
            let whole = state.buffer.count / chunkSize * chunkSize
            let pieces = stride(from: 0, to: whole, by: chunkSize).map { Array(state.buffer[$0..<$0 + chunkSize]) }
            state.buffer = Array(state.buffer[whole...])
            state.busy = true
            defer { state.nextSeq += Int32(pieces.count) }
            return .success((connection, pieces, state.nextSeq))
        }
        let work: (PostgresConnection, [[UInt8]], Int32)?
        do {
            work = try step.get()
        } catch {
            if case .sizeMismatch = error { await abort() }
            throw error
        }
        guard let (connection, pieces, firstSeq) = work else { return }
        do {
            try await pool.run(on: connection, keepTransaction: true) { [blobID] connection in
                for (offset, piece) in pieces.enumerated() {
                    try Self.insertChunk(piece, blobID: blobID, seq: firstSeq + Int32(offset), on: connection)
                }
            }
            state.withLock { $0.busy = false }
        } catch {
            state.withLock { $0.busy = false }
            await abort()
            throw (error as? PostgresError)?.storeError ?? error
        }
    }

    func commit() async throws -> MessageID {
        let taken = state.withLock { state -> (PostgresConnection, [UInt8], UInt64, Int32)? in
            guard let connection = state.connection, !state.busy else { return nil }
            state.connection = nil
            return (connection, state.buffer, state.written, state.nextSeq)
        }
        guard let (connection, rest, written, seq) = taken else {
            throw StoreError.notFound("upload of blob \(blobID) is finished or busy")
        }
        guard written == UInt64(header.contentSize) else {
            await rollBack(connection)
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: written)
        }
        let header = self.header
        do {
            let id = try await pool.run(on: connection, keepTransaction: true) { [blobID] connection in
                if !rest.isEmpty { try Self.insertChunk(rest, blobID: blobID, seq: seq, on: connection) }
                let rows = try connection.execute("""
                    INSERT INTO messages (recipient, sender, kind, content_size, blob_id)
                    VALUES ($1, $2, $3, $4, $5) RETURNING id
                    """, [.bytes(header.recipient.bytes), .bytes(header.sender.bytes), .int16(Int16(header.kind.rawValue)),
                          .int64(Int64(header.contentSize)), .int64(blobID)])
                try connection.execute("COMMIT")
                return try rows.int(0, 0)
            }
            pool.checkin(connection)
            return MessageID(UInt32(truncatingIfNeeded: id))
        } catch {
            await rollBack(connection)
            throw (error as? PostgresError)?.storeError ?? error
        }
    }

    func abort() async {
        // While a write is in flight it owns the connection (and aborts itself on failure).
        guard let connection = state.withLock({ state -> PostgresConnection? in
            guard !state.busy, let connection = state.connection else { return nil }
            state.connection = nil
            return connection
        }) else { return }
        await rollBack(connection)
    }

    private func rollBack(_ connection: PostgresConnection) async {
        _ = try? await pool.run(on: connection, keepTransaction: true) { try $0.execute("ROLLBACK") }
        pool.checkin(connection)
    }

    static func insertChunk(_ data: [UInt8], blobID: Int64, seq: Int32, on connection: PostgresConnection) throws {
        try connection.execute(
            "INSERT INTO message_chunks (blob_id, seq, data) VALUES ($1, $2, $3)",
            [.int64(blobID), .int32(seq), .bytes(data)])
    }
}
