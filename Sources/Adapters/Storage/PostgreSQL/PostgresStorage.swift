import Application
import Logging

/// PostgreSQL storage: the client directory and the message store (protocol v2), the account
/// store, the envelope queue and the delivery notifier (protocol v3), over shared pools.
///
/// Everything lives in the database, so several server processes may share one.
/// Connecting opens the pools, migrates the schema and starts listening for the other
/// processes' account events; call `shutdown()` when done.
public final class PostgresStorage: Sendable {
    /// Tunables; the defaults suit a server.
    public struct Configuration: Sendable {
        /// Connections for ordinary statements.
        public var poolSize: Int
        /// Connections reserved for uploads, each of which holds one for its duration, so
        /// that uploads can never starve the other operations.
        public var uploadPoolSize: Int
        /// Contents up to this size are stored in the message row and returned inline.
        public var inlineLimit: UInt32
        /// The size of a chunk row for larger contents.
        public var chunkSize: Int
        /// How long a claim holds its messages before another claim may take them.
        public var claimLease: Duration
        /// Pending "last seen" times that trigger a write.
        public var seenBatchSize: Int
        /// The longest a "last seen" time waits before a write is triggered.
        public var seenFlushInterval: Duration
        /// The most messages one batched `enqueue` transaction inserts.
        public var enqueueBatchLimit: Int

        /// Settings with the given values; each default suits a server.
        public init(
            poolSize: Int = 8, uploadPoolSize: Int = 8, inlineLimit: UInt32 = 64 * 1024,
            chunkSize: Int = 512 * 1024, claimLease: Duration = .seconds(600),
            seenBatchSize: Int = 256, seenFlushInterval: Duration = .seconds(5), enqueueBatchLimit: Int = 512
        ) {
            self.poolSize = poolSize
            self.uploadPoolSize = uploadPoolSize
            self.inlineLimit = inlineLimit
            self.chunkSize = chunkSize
            self.claimLease = claimLease
            self.seenBatchSize = seenBatchSize
            self.seenFlushInterval = seenFlushInterval
            self.enqueueBatchLimit = enqueueBatchLimit
        }
    }

    /// Registered clients.
    public let clients: PostgresClientDirectory
    /// Waiting messages.
    public let messages: PostgresMessageStore
    /// The v3 accounts and their prekeys.
    public let accounts: PostgresAccountStore
    /// The waiting v3 envelopes.
    public let envelopes: PostgresEnvelopeQueue
    /// Account events, to and from every process on the database.
    public let notifier: PostgresDeliveryNotifier
    /// The v3 attachments, as chunk rows.
    public let attachments: PostgresAttachmentStore
    /// Each account's attachment quota (`limits.rate.attachmentBytesPerDay`), one for every
    /// process on the database.
    public let attachmentQuota: PostgresAttachmentQuota
    private let pool: PostgresConnectionPool
    private let uploadPool: PostgresConnectionPool

    /// Connects to `url` (a libpq URI or conninfo string) with default settings but the pool size.
    ///
    /// - Parameter schema: when given, every connection works in this schema (`search_path`),
    ///   which is created if needed; tests use a fresh one each.
    /// - Throws: `StoreError.unavailable` when the database cannot be reached or migrated.
    public static func connect(
        url: String, schema: String? = nil, poolSize: Int = 8, logger: Logger
    ) async throws -> PostgresStorage {
        try await connect(url: url, schema: schema, configuration: Configuration(poolSize: poolSize), logger: logger)
    }

    /// Connects to `url` with every setting given; see `connect(url:schema:poolSize:logger:)`.
    public static func connect(
        url: String, schema: String? = nil, configuration: Configuration, logger: Logger
    ) async throws -> PostgresStorage {
        // Durable commits whatever the server default; NOTICEs (such as "already exists,
        // skipping") would otherwise go to stderr through libpq's default notice processor.
        var setup = ["SET synchronous_commit TO on", "SET client_min_messages TO warning"]
        if let schema {
            setup.append("SET search_path TO \(PostgresMigrations.quoteIdentifier(schema))")
        }
        return try await mappingPostgresErrors {
            let pool = try await PostgresConnectionPool.open(
                name: "main", conninfo: url, size: configuration.poolSize, setup: setup, logger: logger)
            let uploadPool: PostgresConnectionPool
            do {
                try await pool.withConnection { try PostgresMigrations.run(on: $0, schema: schema, logger: logger) }
                uploadPool = try await PostgresConnectionPool.open(
                    name: "uploads", conninfo: url, size: configuration.uploadPoolSize, setup: setup, logger: logger)
            } catch {
                await pool.shutdown()
                throw error
            }
            let notifier: PostgresDeliveryNotifier
            do {
                notifier = try await PostgresDeliveryNotifier.start(conninfo: url, schema: schema, pool: pool, logger: logger)
            } catch {
                await uploadPool.shutdown()
                await pool.shutdown()
                throw error
            }
            return PostgresStorage(pool: pool, uploadPool: uploadPool, notifier: notifier, configuration: configuration, logger: logger)
        }
    }

    private init(
        pool: PostgresConnectionPool, uploadPool: PostgresConnectionPool, notifier: PostgresDeliveryNotifier,
        configuration: Configuration, logger: Logger
    ) {
        self.pool = pool
        self.uploadPool = uploadPool
        self.notifier = notifier
        self.accounts = PostgresAccountStore(pool: pool)
        self.envelopes = PostgresEnvelopeQueue(pool: pool)
        self.attachments = PostgresAttachmentStore(pool: pool)
        self.attachmentQuota = PostgresAttachmentQuota(pool: pool)
        self.clients = PostgresClientDirectory(
            pool: pool, seenBatchSize: configuration.seenBatchSize,
            seenFlushInterval: configuration.seenFlushInterval, logger: logger)
        self.messages = PostgresMessageStore(
            pool: pool, uploadPool: uploadPool, configuration: configuration, logger: logger)
    }

    /// Stops listening for account events, writes pending "last seen" times, waits for
    /// batched enqueues, and closes every connection.
    public func shutdown() async {
        await notifier.stop()
        await clients.flushSeen()
        await messages.drain()
        await uploadPool.shutdown()
        await pool.shutdown()
    }
}
