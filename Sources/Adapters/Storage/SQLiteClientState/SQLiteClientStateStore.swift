import Application
import Domain
import Foundation
import GRDB

/// The client's contacts and keys in one SQLite database (`<home>/sealpost-client.db`),
/// file mode 0600: it holds the pair keys.
public final class SQLiteClientStateStore: ClientStateStore {
    private let queue: DatabaseQueue

    private init(queue: DatabaseQueue) {
        self.queue = queue
    }

    /// Opens (creating when missing) the database at `path`, readable by the owner only,
    /// and brings its schema up to date.
    ///
    /// - Throws: `ClientError.localState` when the database cannot be opened.
    public static func open(path: String) throws -> SQLiteClientStateStore {
        do {
            // Create the file with owner-only permissions before SQLite opens it, so the keys
            // are never readable by others, not even for a moment.
            let fd = Foundation.open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ClientError.localState("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            fchmod(fd, 0o600)
            close(fd)
            var configuration = Configuration()
            configuration.label = "sealpost-client"
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try SQLiteClientStateSchema.migrator.migrate(queue)
            return SQLiteClientStateStore(queue: queue)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.localState("cannot open the client database \(path): \(error)")
        }
    }

    public func contact(withID id: ClientID) async throws -> Contact? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT id, name, public_key FROM contact WHERE id = ?", arguments: [Data(id.bytes)])
                .map(Self.contact)
        }
    }

    public func contact(named name: ClientName) async throws -> Contact? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT id, name, public_key FROM contact WHERE name = ?", arguments: [name.value])
                .map(Self.contact)
        }
    }

    public func recordClients(_ clients: [ClientSummary]) async throws {
        try await write { db in
            for client in clients {
                let id = Data(client.id.bytes)
                try db.execute(sql: "UPDATE contact SET name = NULL WHERE name = ? AND id <> ?", arguments: [client.name.value, id])
                try db.execute(
                    sql: "INSERT INTO contact (id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name",
                    arguments: [id, client.name.value])
            }
        }
    }

    public func recordPublicKey(_ key: PublicKey, for id: ClientID) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO contact (id, public_key) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET public_key = excluded.public_key",
                arguments: [Data(id.bytes), Data(key.bytes)])
        }
    }

    public func pairKeys(for id: ClientID) async throws -> [PairKey] {
        try await read { db in
            // Current first, then the others newest first.
            try Row.fetchAll(
                db,
                sql: "SELECT key, origin FROM pair_key WHERE contact_id = ? ORDER BY is_current DESC, seq DESC",
                arguments: [Data(id.bytes)]
            ).map { row in
                let bytes: Data = row["key"]
                let origin: String = row["origin"]
                return PairKey(bytes: Array(bytes), origin: PairKey.Origin(rawValue: origin) ?? .received)
            }
        }
    }

    public func addPairKey(_ key: PairKey, for id: ClientID, makeCurrent: Bool) async throws {
        try await write { db in
            let contact = Data(id.bytes)
            try db.execute(sql: "INSERT INTO contact (id) VALUES (?) ON CONFLICT(id) DO NOTHING", arguments: [contact])
            let known = try Int64.fetchOne(
                db, sql: "SELECT seq FROM pair_key WHERE contact_id = ? AND key = ?", arguments: [contact, Data(key.bytes)])
            let hasCurrent = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM pair_key WHERE contact_id = ? AND is_current = 1)", arguments: [contact]) ?? false
            let current = makeCurrent || !hasCurrent
            if current {
                try db.execute(sql: "UPDATE pair_key SET is_current = 0 WHERE contact_id = ?", arguments: [contact])
            }
            if let known {
                if current { try db.execute(sql: "UPDATE pair_key SET is_current = 1 WHERE seq = ?", arguments: [known]) }
            } else {
                try db.execute(
                    sql: "INSERT INTO pair_key (contact_id, key, origin, is_current) VALUES (?, ?, ?, ?)",
                    arguments: [contact, Data(key.bytes), key.origin.rawValue, current])
            }
        }
    }

    private static func contact(_ row: Row) -> Contact {
        let id: Data = row["id"]
        let name: String? = row["name"]
        let key: Data? = row["public_key"]
        return Contact(
            id: ClientID(bytes: Array(id)) ?? .zero,
            name: name.flatMap { try? ClientName($0) },
            publicKey: key.flatMap { try? PublicKey(bytes: Array($0)) })
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await queue.read(body)
        } catch {
            throw ClientError.localState("client database: \(error)")
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await queue.write(body)
        } catch {
            throw ClientError.localState("client database: \(error)")
        }
    }
}
