import Application
import Synchronization

/// Streams a large content's chunk rows in order, one row per `next()`.
///
/// Each read checks that the message is still held by the claim, and borrows a pooled
/// connection only for that one statement. While the caller sends a row, the next
/// `readAhead` rows are already being fetched, so at most `readAhead + 1` chunks are held.
final class PostgresContentReader: MessageContentReader {
    private struct State {
        /// The seq of the row the next `next()` returns.
        var nextSeq: Int32 = 0
        /// The seq of the next row to start fetching.
        var fetchSeq: Int32 = 0
        var delivered: UInt64 = 0
        /// The size of the first row: an upload writes whole chunks but the last, so it
        /// tells how many rows there are.
        var rowSize: UInt64 = 0
        var closed = false
        /// Fetches started for rows `nextSeq`, `nextSeq + 1`, … in order.
        var fetches: [Task<[UInt8], any Error>] = []
    }

    /// Rows fetched ahead of the one being returned.
    private static let readAhead = 3

    private let pool: PostgresConnectionPool
    private let blobID: Int64
    private let token: Int64
    private let contentSize: UInt64
    private let state = Mutex(State())

    init(pool: PostgresConnectionPool, blobID: Int64, token: Int64, contentSize: UInt64) {
        self.pool = pool
        self.blobID = blobID
        self.token = token
        self.contentSize = contentSize
    }

    func next() async throws -> [UInt8]? {
        let pending: Task<[UInt8], any Error>? = state.withLock { state in
            guard !state.closed, state.delivered < contentSize else { return nil }
            if state.fetches.isEmpty {
                state.fetches.append(startFetch(state.fetchSeq))
                state.fetchSeq += 1
            }
            return state.fetches.removeFirst()
        }
        guard let pending else { return nil }
        let data: [UInt8]
        do {
            data = try await pending.value
        } catch {
            // Drop the fetches ahead, so that another `next()` starts again at this row.
            let ahead = state.withLock { state in
                defer { state.fetches = []; state.fetchSeq = state.nextSeq }
                return state.fetches
            }
            for fetch in ahead {
                _ = try? await fetch.value
            }
            throw error
        }
        state.withLock { state in
            state.nextSeq += 1
            state.delivered += UInt64(data.count)
            if state.rowSize == 0 { state.rowSize = UInt64(data.count) }
            // Start the rows that exist (by the row size) and are not being fetched yet.
            while !state.closed && state.fetches.count < Self.readAhead && state.rowSize > 0
                    && UInt64(state.fetchSeq) * state.rowSize < contentSize {
                state.fetches.append(startFetch(state.fetchSeq))
                state.fetchSeq += 1
            }
        }
        return data
    }

    func close() async {
        let fetches = state.withLock { state in
            state.closed = true
            defer { state.fetches = [] }
            return state.fetches
        }
        // Let fetches in flight finish, so their connections are back in the pool when this returns.
        for fetch in fetches {
            _ = try? await fetch.value
        }
    }

    private func startFetch(_ seq: Int32) -> Task<[UInt8], any Error> {
        Task { [pool, blobID, token] in
            let rows = try await mappingPostgresErrors {
                try await pool.withConnection { connection in
                    try connection.execute(prepared: "sealpost_read_chunk", """
                        SELECT c.data FROM message_chunks c
                        WHERE c.blob_id = $1 AND c.seq = $2
                          AND EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = $1 AND m.claim_token = $3)
                        """, [.int64(blobID), .int32(seq), .int64(token)])
                }
            }
            guard rows.count == 1 else {
                throw StoreError.notFound("chunk \(seq) of blob \(blobID) under claim \(UInt64(bitPattern: token))")
            }
            return try await mappingPostgresErrors { try rows.bytes(0, 0) }
        }
    }
}
