import Foundation
@testable import Adapters

extension TestStores {
    /// A fresh SQLite database in a temporary directory, or a fresh PostgreSQL schema.
    static func makeDurable(_ kind: StoreKind, inlineLimit: UInt32, claimLease: Duration = .seconds(600)) async throws -> TestStores {
        switch kind {
        case .memory:
            return try await make(.memory, inlineLimit: inlineLimit)
        case .sqlite:
            let directory = try temporaryDirectory()
            let storage = try await SQLiteStorage.open(
                path: directory.appendingPathComponent("test.db").path, logger: logger, inlineLimit: inlineLimit)
            return TestStores(
                clients: storage.clients, messages: storage.messages,
                close: {
                    await storage.close()
                    try? FileManager.default.removeItem(at: directory)
                },
                directory: directory,
                footprint: { try await storage.messages.storedMessages() + contentFiles(in: directory).count })
        case .postgres:
            guard let url = StoreKind.postgresURL else {
                throw TestSetupError("SEALPOST_TEST_POSTGRES_URL is not set: start a server with scripts/pg-test-cluster")
            }
            let schema = "t_\(UInt64.random(in: 0...UInt64.max))"
            var settings = PostgresStorage.Configuration()
            settings.poolSize = 4
            settings.uploadPoolSize = 2
            settings.inlineLimit = inlineLimit
            settings.claimLease = claimLease
            let storage = try await PostgresStorage.connect(url: url, schema: schema, configuration: settings, logger: logger)
            let pool = storage.messages.pool
            return TestStores(
                clients: storage.clients, messages: storage.messages,
                close: { await storage.shutdown() },
                directory: nil,
                schema: schema,
                claimsExpire: true,
                footprint: {
                    try await pool.withConnection { connection in
                        Int(try connection.execute("SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM message_chunks)").int(0, 0))
                    }
                })
        }
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
