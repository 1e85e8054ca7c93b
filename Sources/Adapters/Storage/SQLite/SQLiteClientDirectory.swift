import Application
import Domain
import Foundation
import GRDB
import Logging
import Synchronization

/// Registered clients in the `clients` table.
///
/// `recordSeen` notes are kept in memory and written together, at most once per flush
/// interval (and at close), so that they never cost a write per request.
public final class SQLiteClientDirectory: ClientDirectory {
    private struct Seen {
        var pending: [ClientID: Double] = [:]
        var lastFlush = ContinuousClock.now
        var flushing = false
    }

    private let pool: DatabasePool
    private let flushInterval: Duration
    private let logger: Logger
    private let seen = Mutex(Seen())

    init(pool: DatabasePool, flushInterval: Double, logger: Logger) {
        self.pool = pool
        self.flushInterval = .milliseconds(Int64(flushInterval * 1000))
        self.logger = logger
    }

    /// Adds `client`. Durable when it returns.
    ///
    /// - Throws: `DomainError.nameTaken` when another client has the same name;
    ///   `StoreError.duplicateID` when the id is already taken.
    public func register(_ client: RegisteredClient) async throws {
        let id = Data(client.id.bytes)
        try await SQLiteErrors.mapping {
            try await pool.write { db in
                do {
                    try db.execute(
                        sql: "INSERT INTO clients (id, name, public_key) VALUES (?, ?, ?)",
                        arguments: [id, client.name.value, Data(client.publicKey.bytes)])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    // Two UNIQUE columns: ask which one clashed rather than parse the message.
                    if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM clients WHERE id = ?)", arguments: [id]) == true {
                        throw StoreError.duplicateID
                    }
                    throw DomainError.nameTaken(client.name)
                }
            }
        }
    }

    /// The client with `id`, or `nil` when there is none.
    public func client(withID id: ClientID) async throws -> RegisteredClient? {
        let key = Data(id.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT id, name, public_key FROM clients WHERE id = ?", arguments: [key])
                    .map(Self.client(from:))
            }
        }
    }

    /// Every registered client, in registration order.
    public func allClients() async throws -> [RegisteredClient] {
        try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT id, name, public_key FROM clients ORDER BY seq")
                    .map(Self.client(from:))
            }
        }
    }

    /// Notes that `id` made a request at `instant`. Kept in memory and written with the next
    /// flush; a note lost in a crash is not an error. Unknown ids are ignored.
    public func recordSeen(_ id: ClientID, at instant: Double) async {
        let due = seen.withLock { seen in
            seen.pending[id] = max(instant, seen.pending[id] ?? instant)
            guard !seen.flushing, ContinuousClock.now - seen.lastFlush >= flushInterval else { return false }
            return true
        }
        if due { await flushSeen() }
    }

    /// Writes the pending `recordSeen` notes in one transaction.
    public func flushSeen() async {
        let batch: [ClientID: Double]? = seen.withLock { seen in
            guard !seen.flushing, !seen.pending.isEmpty else { return nil }
            seen.flushing = true
            defer { seen.pending = [:] }
            return seen.pending
        }
        guard let batch else { return }
        let rows = batch.map { (Data($0.key.bytes), $0.value) }
        do {
            try await pool.write { db in
                let statement = try db.cachedStatement(sql: "UPDATE clients SET last_seen = ? WHERE id = ?")
                for (id, instant) in rows {
                    try statement.execute(arguments: [instant, id])
                }
            }
        } catch {
            logger.warning("could not record when clients were last seen", metadata: ["error": "\(error)"])
        }
        seen.withLock { seen in
            seen.flushing = false
            seen.lastFlush = .now
        }
    }

    /// When `id` was last seen, counting notes not yet written; for tests and operators.
    public func lastSeen(_ id: ClientID) async throws -> Double? {
        if let pending = seen.withLock({ $0.pending[id] }) { return pending }
        let key = Data(id.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.read { db in
                try Double.fetchOne(db, sql: "SELECT last_seen FROM clients WHERE id = ?", arguments: [key])
            }
        }
    }

    private static func client(from row: Row) throws -> RegisteredClient {
        let idBytes: Data = row["id"]
        let keyBytes: Data = row["public_key"]
        guard let id = ClientID(bytes: idBytes) else {
            throw StoreError.unavailable("a stored client id is \(idBytes.count) bytes, not 16")
        }
        return RegisteredClient(id: id, name: try ClientName(row["name"]), publicKey: try PublicKey(bytes: Array(keyBytes)))
    }
}
