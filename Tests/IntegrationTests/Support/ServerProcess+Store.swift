import Domain
import Foundation

extension ServerProcess {
    /// `serve` options for a fresh store of `kind`: a database file in `directory`, or a
    /// fresh PostgreSQL schema, created and migrated here, that the server finds through
    /// `search_path`.
    static func storeArguments(_ kind: StoreKind, directory: URL) async throws -> [String] {
        switch kind {
        case .memory:
            return ["--store", "memory"]
        case .sqlite:
            return ["--store", "sqlite", "--sqlite-path", sqlitePath(in: directory)]
        case .postgres:
            return try postgresArguments(schema: try await freshPostgresSchema())
        }
    }

    /// A fresh PostgreSQL schema, created and migrated.
    static func freshPostgresSchema() async throws -> String {
        let stores = try await TestStores.make(.postgres)
        await stores.close()
        guard let schema = stores.schema else { throw TestSetupError("no schema") }
        return schema
    }

    /// `serve` options for the PostgreSQL schema `schema`.
    static func postgresArguments(schema: String) throws -> [String] {
        ["--store", "postgres", "--postgres-url", try postgresURL(schema: schema)]
    }

    /// The database file `storeArguments(.sqlite, directory:)` uses.
    static func sqlitePath(in directory: URL) -> String {
        directory.appendingPathComponent("crash.db").path
    }

    /// The test PostgreSQL URL, with every connection working in `schema`.
    static func postgresURL(schema: String) throws -> String {
        guard let url = StoreKind.postgresURL else { throw TestSetupError("no PostgreSQL") }
        let separator = url.contains("?") ? "&" : "?"
        return "\(url)\(separator)options=-csearch_path%3D\(schema)"
    }
}

extension ServerProcess {
    /// Sends one request and parses the reply.
    func request(_ bytes: [UInt8]) async throws -> Reply {
        try Reply(try await RawClient.exchange(bytes, port: port))
    }

    /// Registers `name` and returns its id.
    func register(_ name: String, key: [UInt8] = Requests.samplePublicKey) async throws -> ClientID {
        let reply = try await request(Requests.register(name, key: key))
        guard reply.code == 1000, let id = reply.clientID else { throw TestSetupError("register \(name): code \(reply.code)") }
        return id
    }
}
