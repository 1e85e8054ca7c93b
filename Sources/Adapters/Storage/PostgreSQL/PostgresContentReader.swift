import Application
import Synchronization

/// Streams a large content's chunk rows in order, one row per `next()`.
///
/// Each read checks that the message is still held by the claim, and borrows a pooled
/// connection only for that one statement.
final class PostgresContentReader: MessageContentReader {
    private struct State {
        var nextSeq: Int32 = 0
        var delivered: UInt64 = 0
        var closed = false
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
        let seq: Int32? = state.withLock { state in
            state.closed || state.delivered >= contentSize ? nil : state.nextSeq
        }
        guard let seq else { return nil }
        let rows = try await mappingPostgresErrors {
            try await pool.withConnection { [blobID, token] connection in
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
        let data = try await mappingPostgresErrors { try rows.bytes(0, 0) }
        state.withLock { state in
            state.nextSeq = seq + 1
            state.delivered += UInt64(data.count)
        }
        return data
    }

    func close() async {
        state.withLock { $0.closed = true }
    }
}
