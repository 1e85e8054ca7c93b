import Application
import Domain
import Logging

/// Waiting messages in PostgreSQL, shared by every server process on the database.
///
/// Contents up to `inlineLimit` live in the message row; larger ones in chunk rows of
/// `chunkSize`: an upload receives the next chunk while the previous one is inserted, and a
/// reader fetches a few rows ahead of the one being sent. Claims are rows marked with a random
/// token and a lease, taken with `FOR UPDATE SKIP LOCKED`, so concurrent claims, in this
/// process or another, never share a message.
public final class PostgresMessageStore: MessageStore {
    let pool: PostgresConnectionPool
    private let uploadPool: PostgresConnectionPool
    let batcher: PostgresEnqueueBatcher
    private let inlineLimit: UInt32
    private let chunkSize: Int
    private let leaseSeconds: Double
    private let logger: Logger

    init(pool: PostgresConnectionPool, uploadPool: PostgresConnectionPool, configuration: PostgresStorage.Configuration, logger: Logger) {
        self.pool = pool
        self.uploadPool = uploadPool
        self.batcher = PostgresEnqueueBatcher(pool: pool, limit: configuration.enqueueBatchLimit)
        self.inlineLimit = configuration.inlineLimit
        self.chunkSize = max(1, configuration.chunkSize)
        let lease = configuration.claimLease.components
        self.leaseSeconds = Double(lease.seconds) + Double(lease.attoseconds) / 1e18
        self.logger = logger
    }

    /// Stores a message; concurrent small ones share one transaction. Durable when it returns.
    ///
    /// - Throws: `StoreError.sizeMismatch` when `content` is not the declared size.
    public func enqueue(_ header: MessageHeader, content: [UInt8]) async throws -> MessageID {
        guard content.count == Int(header.contentSize) else {
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: UInt64(content.count))
        }
        if header.contentSize <= inlineLimit {
            return try await batcher.enqueue(header, content: content)
        }
        // Large and already in memory: write it as an upload would, in one go.
        let upload = try await beginUpload(header)
        do {
            var offset = 0
            while offset < content.count {
                let end = min(offset + chunkSize, content.count)
                try await upload.write(Array(content[offset..<end]))
                offset = end
            }
            return try await upload.commit()
        } catch {
            await upload.abort()
            throw error
        }
    }

    /// Starts an upload. A large one holds a connection of the upload pool (with an open
    /// transaction) until it commits or aborts; a small one is buffered in memory.
    public func beginUpload(_ header: MessageHeader) async throws -> any MessageUpload {
        if header.contentSize <= inlineLimit {
            return PostgresBufferedUpload(header: header, batcher: batcher)
        }
        return try await mappingPostgresErrors {
            try await PostgresMessageUpload.begin(header, pool: uploadPool, chunkSize: chunkSize)
        }
    }

    /// Claims the oldest unclaimed (or expired) messages of `recipient` that `budget` admits.
    public func claim(for recipient: ClientID, budget: ClaimBudget) async throws -> MessageClaim {
        let token = UInt64.random(in: 1...UInt64.max)
        let envelopes = try await mappingPostgresErrors {
            try await pool.withConnection { [leaseSeconds] connection in
                try Self.claim(recipient: recipient, budget: budget, token: Int64(bitPattern: token),
                               leaseSeconds: leaseSeconds, on: connection)
            }
        }
        return MessageClaim(token: token, recipient: recipient, messages: envelopes)
    }

    /// Opens a claimed message's content.
    ///
    /// - Throws: `StoreError.notFound` when the claim does not hold the message.
    public func openContent(of message: Envelope, in claim: MessageClaim) async throws -> any MessageContentReader {
        let token = Int64(bitPattern: claim.token)
        let rows = try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                try connection.execute("""
                    SELECT blob_id, content, content_size FROM messages
                    WHERE recipient = $1 AND claim_token = $2 AND id = $3
                    """, [.bytes(claim.recipient.bytes), .int64(token), .int64(Int64(bitPattern: message.id.rawValue))])
            }
        }
        guard rows.count == 1 else { throw StoreError.notFound("message \(message.id) in claim \(claim.token)") }
        return try await mappingPostgresErrors {
            if rows.isNull(0, 0) {
                return PieceReader(pieces: [try rows.bytes(0, 1)])
            }
            return PostgresContentReader(
                pool: pool, blobID: try rows.int(0, 0), token: token, contentSize: UInt64(try rows.int(0, 2)))
        }
    }

    /// Deletes the claim's messages; their chunk rows go with them (ON DELETE CASCADE).
    public func acknowledge(_ claim: MessageClaim) async throws {
        try await mappingPostgresErrors {
            _ = try await pool.withConnection { connection in
                try connection.execute(
                    "DELETE FROM messages WHERE recipient = $1 AND claim_token = $2",
                    [.bytes(claim.recipient.bytes), .int64(Int64(bitPattern: claim.token))])
            }
        }
    }

    /// Pushes the claim's lease a full period into the future, so that a reply that takes
    /// longer than one lease is not claimed again (and delivered twice) meanwhile.
    ///
    /// - Throws: `StoreError.notFound` when some of the messages are no longer held by the
    ///   claim: the lease ran out and another pull took them.
    public func renew(_ claim: MessageClaim) async throws {
        let renewed = try await mappingPostgresErrors {
            try await pool.withConnection { [leaseSeconds] connection in
                try connection.execute("""
                    UPDATE messages SET claimed_until = now() + make_interval(secs => $3)
                    WHERE recipient = $1 AND claim_token = $2
                    """, [.bytes(claim.recipient.bytes), .int64(Int64(bitPattern: claim.token)), .float64(leaseSeconds)]).affected
            }
        }
        guard renewed == claim.messages.count else {
            throw StoreError.notFound("\(claim.messages.count - renewed) of \(claim.messages.count) messages of claim \(claim.token) (lease expired)")
        }
    }

    /// Gives the claim's messages back to their inbox.
    public func release(_ claim: MessageClaim) async throws {
        try await mappingPostgresErrors {
            _ = try await pool.withConnection { connection in
                try connection.execute(
                    "UPDATE messages SET claim_token = NULL, claimed_until = NULL WHERE recipient = $1 AND claim_token = $2",
                    [.bytes(claim.recipient.bytes), .int64(Int64(bitPattern: claim.token))])
            }
        }
    }

    /// Returns expired claims to their inboxes and deletes chunk rows without a message.
    ///
    /// Interrupted uploads need nothing: their transaction was rolled back by PostgreSQL,
    /// and the deferred foreign key keeps orphan chunks from ever committing.
    public func recover() async throws {
        let (released, orphans) = try await mappingPostgresErrors {
            try await pool.withConnection { connection in
                let released = try connection.execute("""
                    UPDATE messages SET claim_token = NULL, claimed_until = NULL
                    WHERE claim_token IS NOT NULL AND claimed_until < now()
                    """).affected
                let orphans = try connection.execute("""
                    DELETE FROM message_chunks c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = c.blob_id)
                    """).affected
                return (released, orphans)
            }
        }
        if released > 0 || orphans > 0 {
            logger.info("Recovered PostgreSQL message store", metadata: ["expiredClaims": "\(released)", "orphanChunks": "\(orphans)"])
        }
    }

    /// Waits until every batched enqueue so far is written.
    func drain() async {
        await batcher.drain()
    }
}
