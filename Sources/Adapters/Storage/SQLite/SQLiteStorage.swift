import GRDB
import Logging

/// Clients and messages in one SQLite database, with large contents in files beside it.
///
/// The database runs in WAL mode with `synchronous = FULL`, so a write that returned
/// survives a crash or a power loss. Large contents live in `<path>.blobs/`.
public final class SQLiteStorage: Sendable {
    /// The registered clients.
    public let clients: SQLiteClientDirectory
    /// The waiting messages.
    public let messages: SQLiteMessageStore

    private let pool: DatabasePool
    private let logger: Logger

    private init(pool: DatabasePool, clients: SQLiteClientDirectory, messages: SQLiteMessageStore, logger: Logger) {
        self.pool = pool
        self.clients = clients
        self.messages = messages
        self.logger = logger
    }

    /// Opens the database at `path`, creating it when missing, brings its schema up to date
    /// and removes what an interrupted run left behind (`MessageStore.recover()`).
    ///
    /// - Parameters:
    ///   - path: The database file. Large contents go to the directory `<path>.blobs`.
    ///   - logger: Where the storage reports.
    ///   - inlineLimit: Contents up to this size are kept in the database and handed out in
    ///     `Envelope.inlineContent`; larger ones are files, streamed by `openContent`.
    ///   - maxBatch: The most messages one group-commit transaction takes.
    ///   - seenFlushInterval: How long `recordSeen` notes may wait in memory, in seconds.
    /// - Throws: `StoreError.unavailable` when the database or the directory cannot be used.
    public static func open(
        path: String,
        logger: Logger,
        inlineLimit: UInt32 = 64 * 1024,
        maxBatch: Int = 512,
        seenFlushInterval: Double = 5
    ) async throws -> SQLiteStorage {
        var configuration = Configuration()
        configuration.label = "sealpost"
        configuration.prepareDatabase { db in
            // Every commit reaches the disk before it returns (WAL is set by the pool).
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try await pool.write { _ in }  // Opens the writer, which switches to WAL.
            try SQLiteSchema.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw SQLiteErrors.unavailable(error)
        }
        let blobs = BlobDirectory(path: path + ".blobs")
        try await blobs.create()
        let storage = SQLiteStorage(
            pool: pool,
            clients: SQLiteClientDirectory(pool: pool, flushInterval: seenFlushInterval, logger: logger),
            messages: SQLiteMessageStore(pool: pool, blobs: blobs, inlineLimit: inlineLimit, maxBatch: maxBatch, logger: logger),
            logger: logger)
        try await storage.messages.recover()
        logger.info("SQLite storage open", metadata: ["path": "\(path)"])
        return storage
    }

    /// Writes pending `recordSeen` notes and closes the database. Nothing may be called on
    /// `clients` or `messages` afterwards.
    public func close() async {
        await clients.flushSeen()
        do {
            try pool.close()
        } catch {
            logger.error("closing the SQLite database failed", metadata: ["error": "\(error)"])
        }
    }
}
