@testable import Adapters
import Application
import Domain
import Foundation
import Testing

/// Expiry's indexes on PostgreSQL (migration 4; attachments' since 3): a schema at the
/// previous version upgrades in place, and the planner takes the indexes for the expiry
/// statements over a table of many rows, of which few have expired.
@Suite("PostgreSQL expiry indexes", .enabled(if: PostgresTestDatabase.shouldRun, "set SEALPOST_TEST_POSTGRES_URL to run the PostgreSQL tests"))
struct PostgresExpiryIndexTests {
    let alice = V3Fixtures.accountID(0xa1)

    @Test("a schema at migration 3 with envelopes and an attachment upgrades in place: data kept, expiry index and quota table added")
    func upgradesAV3SchemaInPlace() async throws {
        let url = try #require(StoreKind.postgresURL)
        let schema = PostgresSchema.fresh()
        let attachment = AttachmentID.random()
        // The schema as the previous release left it: migrations 1 to 3, one old envelope,
        // one new, one attachment.
        let connection = PostgresConnection(number: 0, conninfo: url, setup: ["SET client_min_messages TO warning"])
        try connection.open()
        let quoted = PostgresMigrations.quoteIdentifier(schema)
        try connection.execute("CREATE SCHEMA \(quoted)")
        try connection.execute("SET search_path TO \(quoted)")
        try connection.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        for migration in PostgresMigrations.all where migration.version <= 3 {
            for statement in migration.statements { try connection.execute(statement) }
            try connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [.int32(migration.version)])
        }
        for storedAt: Int64 in [1_000, 2_000_000] {
            try connection.execute(
                "INSERT INTO envelopes (recipient, sender, stored_at, envelope) VALUES ($1, $1, $2, $3)",
                [.bytes(alice.bytes), .int64(storedAt), .bytes([UInt8(storedAt % 251)])])
        }
        try connection.execute(
            "INSERT INTO attachments (id, uploader, size, created_at, expires_at) VALUES ($1, $2, 10, 0, 5000)",
            [.bytes(attachment.bytes), .bytes(alice.bytes)])
        connection.close()

        let storage = try await PostgresSchema.connect(schema)
        do {
            let (versions, indexes) = try await storage.messages.pool.withConnection { connection in
                let rows = try connection.execute("SELECT version FROM schema_migrations ORDER BY version")
                let indexRows = try connection.execute("SELECT indexname FROM pg_indexes WHERE schemaname = $1", [.text(schema)])
                return (try (0..<rows.count).map { try rows.int($0, 0) }, Set(try (0..<indexRows.count).map { try indexRows.text($0, 0) }))
            }
            #expect(versions == [1, 2, 3, 4, 5])
            #expect(indexes.isSuperset(of: ["envelopes_stored_at_idx", "attachments_expires_at_idx", "attachment_quota_pkey"]))
            #expect(try await storage.envelopes.waitingCount(for: alice) == 2)
            #expect(try await storage.attachments.attachment(attachment)?.size == 10)
            #expect(try await storage.envelopes.expire(storedBefore: 1_000_000) == 1)
            #expect(try await storage.envelopes.lease(for: alice, to: LeaseHolder(1), limit: 5, until: .max).map(\.envelope) == [[UInt8(2_000_000 % 251)]])
            #expect(try await storage.attachments.expire(now: 5000) == 1)
            let limit = RateLimit(burst: 100, perSecond: 0)
            #expect(try await storage.attachmentQuota.charge(100, to: alice, within: limit, now: 1) == 0)
            #expect(try await storage.attachmentQuota.charge(1, to: alice, within: limit, now: 2) == .infinity)
        } catch {
            await PostgresSchema.drop(schema, closing: storage)
            throw error
        }
        await PostgresSchema.drop(schema, closing: storage)
    }

    @Test("the expiry statements use their indexes (EXPLAIN) over 20,000 rows of which 100 have expired")
    func expiryUsesItsIndexes() async throws {
        let schema = PostgresSchema.fresh()
        let storage = try await PostgresSchema.connect(schema)
        do {
            let plans = try await storage.messages.pool.withConnection { connection -> [(String, String, [String])] in
                try connection.execute("""
                    INSERT INTO envelopes (recipient, sender, stored_at, envelope)
                    SELECT $1, $1, g, '\\x00' FROM generate_series(1, 20000) AS g
                    """, [.bytes(alice.bytes)])
                try connection.execute("""
                    INSERT INTO attachments (id, uploader, size, created_at, expires_at)
                    SELECT decode(lpad(to_hex(g), 32, '0'), 'hex'), $1, 1, 0, g FROM generate_series(1, 20000) AS g
                    """, [.bytes(alice.bytes)])
                try connection.execute("ANALYZE envelopes")
                try connection.execute("ANALYZE attachments")
                return try [
                    (PostgresEnvelopeQueue.expireSQL, "envelopes_stored_at_idx"),
                    (PostgresAttachmentStore.expireSQL, "attachments_expires_at_idx"),
                ].map { statement, index in
                    let rows = try connection.execute("EXPLAIN " + statement, [.int64(100)])
                    return (statement, index, try (0..<rows.count).map { try rows.text($0, 0) })
                }
            }
            for (statement, index, plan) in plans {
                print("EXPLAIN \(statement): \(plan.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " | "))")
                #expect(plan.contains { $0.contains("Index Scan") && $0.contains(index) }, "\(statement): \(plan)")
                #expect(!plan.contains { $0.contains("Seq Scan") }, "\(statement): \(plan)")
            }
        } catch {
            await PostgresSchema.drop(schema, closing: storage)
            throw error
        }
        await PostgresSchema.drop(schema, closing: storage)
    }
}
