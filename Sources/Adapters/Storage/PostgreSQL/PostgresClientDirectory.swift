import Application
import Domain
import Logging
import Synchronization

/// Registered clients in PostgreSQL, shared by every server process on the database.
///
/// "Last seen" times are coalesced in memory and written in one statement per batch: when
/// `seenBatchSize` clients are pending, or `seenFlushInterval` has passed since the last
/// write, or at shutdown. A lost update is acceptable (the port says so).
public final class PostgresClientDirectory: ClientDirectory {
    private struct Seen {
        var pending: [ClientID: Double] = [:]
        var lastFlush = ContinuousClock.now
        var flush: Task<Void, Never>?
    }

    private let pool: PostgresConnectionPool
    private let seen = Mutex(Seen())
    private let seenBatchSize: Int
    private let seenFlushInterval: Duration
    private let logger: Logger

    init(pool: PostgresConnectionPool, seenBatchSize: Int, seenFlushInterval: Duration, logger: Logger) {
        self.pool = pool
        self.seenBatchSize = seenBatchSize
        self.seenFlushInterval = seenFlushInterval
        self.logger = logger
    }

    /// Adds `client`; see `ClientDirectory.register(_:)`.
    public func register(_ client: RegisteredClient) async throws {
        do {
            _ = try await pool.withConnection { connection in
                try connection.execute(
                    "INSERT INTO clients (id, name, public_key) VALUES ($1, $2, $3)",
                    [.bytes(client.id.bytes), .text(client.name.value), .bytes(client.publicKey.bytes)])
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            switch error.constraint {
            case "clients_pkey": throw StoreError.duplicateID
            case "clients_name_key": throw DomainError.nameTaken(client.name)
            default: throw error.storeError
            }
        } catch let error as PostgresError {
            throw error.storeError
        }
    }

    /// The client with `id`, or `nil`.
    public func client(withID id: ClientID) async throws -> RegisteredClient? {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute("SELECT id, name, public_key FROM clients WHERE id = $1", [.bytes(id.bytes)])
            }
            return rows.count == 0 ? nil : try Self.client(in: rows, at: 0)
        }
    }

    /// Every client, in registration order.
    public func allClients() async throws -> [RegisteredClient] {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute("SELECT id, name, public_key FROM clients ORDER BY seq")
            }
            return try (0..<rows.count).map { try Self.client(in: rows, at: $0) }
        }
    }

    /// Notes the time in memory; a batch is written in the background now and then.
    public func recordSeen(_ id: ClientID, at instant: Double) async {
        seen.withLock { seen in
            seen.pending[id] = max(seen.pending[id] ?? instant, instant)
            guard seen.flush == nil,
                  seen.pending.count >= seenBatchSize || seen.lastFlush.duration(to: .now) >= seenFlushInterval
            else { return }
            let batch = seen.pending
            seen.pending = [:]
            seen.lastFlush = .now
            seen.flush = Task { [self] in
                await write(batch)
                self.seen.withLock { $0.flush = nil }
            }
        }
    }

    /// Writes every pending "last seen" time now, after any write in progress.
    public func flushSeen() async {
        await seen.withLock { $0.flush }?.value
        let batch = seen.withLock { seen in
            defer { seen.pending = [:]; seen.lastFlush = .now }
            return seen.pending
        }
        await write(batch)
    }

    /// The stored "last seen" time of `id` (pending ones not included), for tests and tools.
    public func storedLastSeen(_ id: ClientID) async throws -> Double? {
        try await mappingPostgresErrors {
            let rows = try await pool.withConnection { connection in
                try connection.execute("SELECT last_seen FROM clients WHERE id = $1", [.bytes(id.bytes)])
            }
            return rows.count == 0 || rows.isNull(0, 0) ? nil : try rows.double(0, 0)
        }
    }

    private func write(_ batch: [ClientID: Double]) async {
        guard !batch.isEmpty else { return }
        let ids = batch.keys.map(\.bytes)
        let times = batch.keys.map { batch[$0]! }
        do {
            _ = try await pool.withConnection { connection in
                try connection.execute("""
                    UPDATE clients AS c SET last_seen = GREATEST(c.last_seen, v.seen)
                    FROM unnest($1::bytea[], $2::float8[]) AS v(id, seen) WHERE c.id = v.id
                    """, [.bytesArray(ids), .float64Array(times)])
            }
        } catch {
            logger.warning("Could not record when clients were last seen", metadata: ["error": "\(error)", "count": "\(batch.count)"])
        }
    }

    private static func client(in rows: PostgresRows, at row: Int) throws -> RegisteredClient {
        guard let id = ClientID(bytes: try rows.bytes(row, 0)) else {
            throw PostgresError(.protocolViolation, message: "a stored client id is not 16 bytes")
        }
        do {
            return RegisteredClient(
                id: id, name: try ClientName(try rows.text(row, 1)),
                publicKey: try PublicKey(bytes: try rows.bytes(row, 2)))
        } catch let error as DomainError {
            throw PostgresError(.protocolViolation, message: "stored client \(id) is invalid: \(error)")
        }
    }
}
