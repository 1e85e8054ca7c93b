import Application
import Synchronization

/// Streams a large content's chunk rows in order, one row per `next()`.
///
/// Each read checks that the message is still held by the claim, and borrows a pooled
/// connection only for that one statement. The next row is fetched while the caller sends
/// the current one: at most one fetch is in flight, so at most two chunks are held.
final class PostgresContentReader: MessageContentReader {
    private struct State {
        var nextSeq: Int32 = 0
        var delivered: UInt64 = 0
        var closed = false
        /// The fetch of row `nextSeq`, if started.
        var prefetch: Task<[UInt8], any Error>?
    }

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
            defer { state.prefetch = nil }
            return state.prefetch ?? startFetch(state.nextSeq)
        }
        guard let pending else { return nil }
        let data = try await pending.value
        state.withLock { state in
            state.nextSeq += 1
            state.delivered += UInt64(data.count)
            if !state.closed && state.delivered < contentSize {
                state.prefetch = startFetch(state.nextSeq)
            }
        }
        return data
    }

    func close() async {
        let prefetch = state.withLock { state in
            state.closed = true
            defer { state.prefetch = nil }
            return state.prefetch
        }
        // Let a fetch in flight finish, so its connection is back in the pool when this returns.
        _ = try? await prefetch?.value
    }

    private func startFetch(_ seq: Int32) -> Task<[UInt8], any Error> {
        Task { [pool, blobID, token] in
            let rows = try await mappingPostgresErrors {
                try await pool.withConnection { connection in
                    try connection.execute("""
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
