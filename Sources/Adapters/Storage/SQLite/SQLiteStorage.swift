import Application
import GRDB
import Logging
import NIOPosix

/// Clients and messages (protocol v2), accounts and envelopes (protocol v3) in one SQLite
/// database, with large v2 contents in files beside it.
///
/// The database runs in WAL mode with `synchronous = FULL`, so a write that returned
/// survives a crash or a power loss. Large contents live in `<path>.blobs/`.
public final class SQLiteStorage: Sendable {
    /// The registered clients.
    public let clients: SQLiteClientDirectory
    /// The waiting messages.
    public let messages: SQLiteMessageStore
    /// The v3 accounts and their prekeys.
    public let accounts: SQLiteAccountStore
    /// The waiting v3 envelopes.
    public let envelopes: SQLiteEnvelopeQueue
    /// The v3 attachments, their bytes in `<path>.attachments/`.
    public let attachments: SQLiteAttachmentStore
    /// Each account's attachment quota (`limits.rate.attachmentBytesPerDay`).
    public let attachmentQuota: SQLiteAttachmentQuota

    private let pool: DatabasePool
    private let logger: Logger

    private init(pool: DatabasePool, clients: SQLiteClientDirectory, messages: SQLiteMessageStore, maxBatch: Int, attachmentDirectory: String,
                 logger: Logger) {
        self.pool = pool
        self.clients = clients
        self.messages = messages
        self.accounts = SQLiteAccountStore(pool: pool)
        self.envelopes = SQLiteEnvelopeQueue(pool: pool, maxBatch: maxBatch)
        self.attachments = SQLiteAttachmentStore(pool: pool, directory: attachmentDirectory)
        self.attachmentQuota = SQLiteAttachmentQuota(pool: pool)
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
    ///   - maxBatch: The most messages (or v3 envelopes) one group-commit transaction takes.
    ///   - seenFlushInterval: How long `recordSeen` notes may wait in memory, in seconds.
    /// - Throws: `StoreError.unavailable` when the database or the directory cannot be used.
    public static func open(
        path: String,
        logger: Logger,
        inlineLimit: UInt32 = 64 * 1024,
        maxBatch: Int = 512,
        seenFlushInterval: Double = 5
    ) async throws -> SQLiteStorage {
        let pool: DatabasePool
        do {
            // Opening and migrating block: keep them off the cooperative pool.
            pool = try await NIOThreadPool.singleton.runIfActive { try Self.openPool(at: path) }
        } catch let error as DatabaseError {
            throw SQLiteErrors.unavailable(error)
        }
        let blobs = BlobDirectory(path: path + ".blobs")
        try await blobs.create()
        let storage = SQLiteStorage(
            pool: pool,
            clients: SQLiteClientDirectory(pool: pool, flushInterval: seenFlushInterval, logger: logger),
            messages: SQLiteMessageStore(pool: pool, blobs: blobs, inlineLimit: inlineLimit, maxBatch: maxBatch, logger: logger),
            maxBatch: maxBatch, attachmentDirectory: path + ".attachments", logger: logger)
        try await storage.messages.recover()
        logger.info("SQLite storage open", metadata: ["path": "\(path)"])
        return storage
    }

    /// How much of the database file reads may map: 1 GiB (address space, not memory).
    static let mmapSize = 1 << 30

    /// Opens the pool, makes its writer durable and migrates the schema. Blocking.
    private static func openPool(at path: String) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.label = "sealpost"
        configuration.prepareDatabase { db in
            // Reads map the database file instead of copying each page into the connection's
            // cache: a claim touches a page per message, and a reader's cache is emptied
            // whenever another connection committed. Writes still go through the WAL.
            try db.execute(sql: "PRAGMA mmap_size = \(Self.mmapSize)")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        // The pool switches the writer to WAL and then to `synchronous = NORMAL`, which may
        // lose the last commits on power loss. Only the writer connection writes, so set
        // FULL there, after the pool is set up, and check both settings.
        let (journal, synchronous) = try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            return (
                try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
        guard journal.lowercased() == "wal", synchronous == 2 else {
            throw StoreError.unavailable("SQLite runs journal_mode=\(journal), synchronous=\(synchronous); WAL and FULL (2) are required")
        }
        try SQLiteSchema.migrator.migrate(pool)
        return pool
    }

    /// Writes pending `recordSeen` notes and closes the database. Nothing may be called on
    /// `clients`, `messages`, `accounts` or `envelopes` afterwards.
    public func close() async {
        await clients.flushSeen()
        await messages.stop()
        await envelopes.stop()
        do {
            try pool.close()
        } catch {
            logger.error("closing the SQLite database failed", metadata: ["error": "\(error)"])
        }
    }
}
