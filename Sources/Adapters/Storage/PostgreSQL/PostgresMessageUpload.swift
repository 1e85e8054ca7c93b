import Application
import Domain
import Synchronization

/// A large upload: one pooled connection holding an open transaction.
///
/// Chunk rows are inserted as the pieces arrive and the message row at `commit()`, which
/// also COMMITs, so nothing is visible before. If the process dies, PostgreSQL rolls the
/// transaction back: an interrupted upload leaves no rows.
///
/// The INSERT of a full chunk runs on a pool thread while `write` already returns, so the
/// next piece is received from the socket while the database stores the previous one. At
/// most one INSERT is in flight and one chunk buffered; a failed INSERT surfaces at the next
/// `write` or at `commit`, and `abort` waits for the INSERT in flight before it rolls back.
final class PostgresMessageUpload: MessageUpload {
    private struct State {
        var connection: PostgresConnection?
        var buffer: [UInt8] = []
        var written: UInt64 = 0
        var nextSeq: Int32 = 0
        /// A `write` is handing a chunk over; it owns the connection until it is done.
        var busy = false
        /// The INSERT of the previous chunk, still running on a pool thread.
        var inFlight: Task<Void, any Error>?
    }

    /// Whole chunks taken out of the buffer, to insert from `firstSeq` on.
    private struct Batch: Sendable {
        let connection: PostgresConnection
        let data: [UInt8]
        let firstSeq: Int32
        let previous: Task<Void, any Error>?
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
        // Dropped without commit or abort: give the connection back (once the INSERT in
        // flight is done with it); its next holder rolls the transaction back.
        let (connection, inFlight) = state.withLock { ($0.connection, $0.inFlight) }
        guard let connection else { return }
        if let inFlight {
            Task { [pool] in
                _ = try? await inFlight.value
                pool.checkin(connection)
            }
        } else {
            pool.checkin(connection)
        }
    }

    func write(_ chunk: [UInt8]) async throws {
        let declared = UInt64(header.contentSize)
        let step: Result<Batch?, StoreError> = state.withLock { state in
            guard let connection = state.connection, !state.busy else {
                return .failure(.notFound("upload of blob \(blobID) is finished or busy"))
            }
            state.written += UInt64(chunk.count)
            guard state.written <= declared else { return .failure(.sizeMismatch(declared: declared, written: state.written)) }
            if state.buffer.capacity == 0 { state.buffer.reserveCapacity(chunkSize + chunkSize / 2) }
            state.buffer += chunk
            guard state.buffer.count >= chunkSize else { return .success(nil) }
            // Hand the buffer over whole; only the tail past the last whole chunk is copied.
            var data = state.buffer
            let whole = data.count / chunkSize * chunkSize
            state.buffer = []
            state.buffer.reserveCapacity(chunkSize + chunkSize / 2)
            state.buffer += data[whole...]
            data.removeLast(data.count - whole)
            state.busy = true
            defer {
                state.nextSeq += Int32(whole / chunkSize)
                state.inFlight = nil
            }
            return .success(Batch(connection: connection, data: data, firstSeq: state.nextSeq, previous: state.inFlight))
        }
        let taken: Batch?
        do {
            taken = try step.get()
        } catch {
            if case .sizeMismatch = error { await abort() }
            throw error
        }
        guard let batch = taken else { return }
        do {
            try await batch.previous?.value
        } catch {
            state.withLock { $0.busy = false }
            await abort()
            throw (error as? PostgresError)?.storeError ?? error
        }
        let insert = Task { [pool, blobID, chunkSize] in
            try await pool.run(on: batch.connection, keepTransaction: true) { connection in
                if batch.data.count == chunkSize {
                    try Self.insertChunk(batch.data, blobID: blobID, seq: batch.firstSeq, on: connection)
                    return
                }
                for (index, start) in stride(from: 0, to: batch.data.count, by: chunkSize).enumerated() {
                    try Self.insertChunk(Array(batch.data[start..<start + chunkSize]), blobID: blobID,
                                         seq: batch.firstSeq + Int32(index), on: connection)
                }
            }
        }
        state.withLock { state in
            state.inFlight = insert
            state.busy = false
        }
    }

    func commit() async throws -> MessageID {
        let taken = state.withLock { state -> (PostgresConnection, [UInt8], UInt64, Int32, Task<Void, any Error>?)? in
            guard let connection = state.connection, !state.busy else { return nil }
            state.connection = nil
            defer { state.buffer = []; state.inFlight = nil }
            return (connection, state.buffer, state.written, state.nextSeq, state.inFlight)
        }
        guard let (connection, rest, written, seq, inFlight) = taken else {
            throw StoreError.notFound("upload of blob \(blobID) is finished or busy")
        }
        guard written == UInt64(header.contentSize) else {
            _ = try? await inFlight?.value
            await rollBack(connection)
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: written)
        }
        let header = self.header
        do {
            try await inFlight?.value
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
            return MessageID(UInt64(bitPattern: id))
        } catch {
            await rollBack(connection)
            throw (error as? PostgresError)?.storeError ?? error
        }
    }

    func abort() async {
        // While a write is handing a chunk over it owns the connection (and aborts itself on
        // failure). An INSERT in flight must finish before the connection takes a ROLLBACK.
        guard let (connection, inFlight) = state.withLock({ state -> (PostgresConnection, Task<Void, any Error>?)? in
            guard !state.busy, let connection = state.connection else { return nil }
            state.connection = nil
            defer { state.buffer = []; state.inFlight = nil }
            return (connection, state.inFlight)
        }) else { return }
        _ = try? await inFlight?.value
        await rollBack(connection)
    }

    private func rollBack(_ connection: PostgresConnection) async {
        _ = try? await pool.run(on: connection, keepTransaction: true) { try $0.execute("ROLLBACK") }
        pool.checkin(connection)
    }

    static func insertChunk(_ data: [UInt8], blobID: Int64, seq: Int32, on connection: PostgresConnection) throws {
        try connection.execute(
            prepared: "sealpost_insert_chunk",
            "INSERT INTO message_chunks (blob_id, seq, data) VALUES ($1, $2, $3)",
            [.int64(blobID), .int32(seq), .bytes(data)])
    }
}
