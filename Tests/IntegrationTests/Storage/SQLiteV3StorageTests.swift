@testable import Adapters
import Application
import Domain
import Foundation
import GRDB
import Logging
import Testing

/// What only the SQLite store does with the v3 tables: upgrading a v2 database in place, and
/// keeping v3 data across a reopen. What every store promises is in the v3 contract suites.
@Suite("SQLiteStorage v3")
struct SQLiteV3StorageTests {
    static let logger = Logger(label: "test.sqlite.v3")

    @Test("a database with only the v1 schema and v2 data upgrades in place: v2 data intact, v3 tables working")
    func upgradesAV2DatabaseInPlace() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.sqlite").path

        // A database as the v2-only server left it: the first migration only, one client,
        // one waiting message.
        let carol = ClientID(high: 0xca401, low: 3)
        let dave = ClientID(high: 0xda7e, low: 4)
        let key = [UInt8](repeating: 0x5c, count: 160)
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteSchema.migrator.migrate(queue, upTo: "v1: clients and messages")
            try await queue.write { db in
                try db.execute(
                    sql: "INSERT INTO clients (id, name, public_key) VALUES (?, ?, ?)",
                    arguments: [Data(carol.bytes), "carol", Data(key)])
                try db.execute(
                    sql: "INSERT INTO messages (recipient, sender, kind, content_size, content) VALUES (?, ?, ?, ?, ?)",
                    arguments: [Data(carol.bytes), Data(dave.bytes), Int(MessageKind.text.rawValue), 3, Data([7, 8, 9])])
            }
            let tables = try await queue.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
            #expect(!tables.contains("accounts") && !tables.contains("envelopes"))
            try queue.close()
        }

        let storage = try await SQLiteStorage.open(path: path, logger: Self.logger)
        // The v2 data, as it was.
        let client = try #require(try await storage.clients.client(withID: carol))
        #expect(client.name.value == "carol")
        #expect(client.publicKey.bytes == key)
        let claim = try await storage.messages.claim(for: carol, budget: ClaimBudget(totalBytes: .max, perMessageOverhead: 25))
        #expect(claim.messages.count == 1)
        #expect(claim.messages.first?.sender == dave)
        #expect(claim.messages.first?.inlineContent == [7, 8, 9])
        try await storage.messages.release(claim)

        // The v3 tables, working.
        let aliceID = V3Fixtures.accountID(0xa1)
        let alice = try V3Fixtures.account(aliceID, "carol")  // v3 names are their own namespace
        try await storage.accounts.create(alice, signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(10...11))
        #expect(try await storage.accounts.account(named: try AccountName("carol")) == alice)
        #expect(try await storage.accounts.takeBundle(of: aliceID)?.bundle.oneTimePrekey?.id == 10)
        let sent = try await storage.envelopes.enqueue(to: aliceID, from: aliceID, envelope: [1, 2], storedAt: 1_700_000_000_000)
        #expect(try await storage.envelopes.lease(for: aliceID, to: LeaseHolder(1), limit: 5, until: .max).map(\.id) == [sent])
        await storage.close()

        // And after a reopen, all of it is still there; the leases are gone with the process.
        let reopened = try await SQLiteStorage.open(path: path, logger: Self.logger)
        #expect(try await reopened.clients.client(withID: carol)?.name.value == "carol")
        #expect(try await reopened.accounts.account(id: aliceID) == alice)
        #expect(try await reopened.accounts.oneTimePrekeyCount(of: aliceID) == 1)
        #expect(try await reopened.envelopes.lease(for: aliceID, to: LeaseHolder(2), limit: 5, until: .max).map(\.envelope) == [[1, 2]])
        let next = try await reopened.envelopes.enqueue(to: aliceID, from: aliceID, envelope: [3], storedAt: 1_700_000_000_001)
        #expect(next > sent)
        let migrations = try await reopenedMigrations(path: path, closing: reopened)
        #expect(migrations == Self.allMigrations)
    }

    static let allMigrations = [
        "v1: clients and messages", "v2: accounts, prekeys, envelopes", "v3: attachments", "v4: envelope expiry index",
        "v5: attachment quota",
    ]

    @Test("a database at \"v3: attachments\" upgrades in place: its envelopes and attachments kept, the expiry index and the quota table added")
    func upgradesAV3DatabaseInPlace() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("v3.sqlite").path
        let alice = V3Fixtures.accountID(0xa1)
        let attachment = AttachmentID.random()
        // The database as the previous release left it: one old envelope, one new, one attachment.
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteSchema.migrator.migrate(queue, upTo: "v3: attachments")
            try await queue.write { db in
                for storedAt in [1_000, 2_000_000] {
                    try db.execute(
                        sql: "INSERT INTO envelopes (recipient, sender, stored_at, envelope) VALUES (?, ?, ?, ?)",
                        arguments: [Data(alice.bytes), Data(alice.bytes), storedAt, Data([UInt8(storedAt % 251)])])
                }
                try db.execute(
                    sql: "INSERT INTO attachments (id, uploader, size, created_at, expires_at) VALUES (?, ?, 10, 0, 5000)",
                    arguments: [Data(attachment.bytes), Data(alice.bytes)])
            }
            #expect(try await Self.indexes(queue).contains("envelopes_by_stored_at") == false)
            try queue.close()
        }

        let storage = try await SQLiteStorage.open(path: path, logger: Self.logger)
        #expect(try await storage.envelopes.waitingCount(for: alice) == 2)
        #expect(try await storage.attachments.attachment(attachment)?.size == 10)
        // Expiry by time, through the new index: the old envelope goes, the new one stays.
        #expect(try await storage.envelopes.expire(storedBefore: 1_000_000) == 1)
        #expect(try await storage.envelopes.lease(for: alice, to: LeaseHolder(1), limit: 5, until: .max).map(\.envelope) == [[UInt8(2_000_000 % 251)]])
        #expect(try await storage.attachments.expire(now: 5000) == 1)
        // The quota table, working.
        let day = RateLimit(burst: 100, perSecond: 0)
        #expect(try await storage.attachmentQuota.charge(100, to: alice, within: day, now: 1) == 0)
        #expect(try await storage.attachmentQuota.charge(1, to: alice, within: day, now: 2) == .infinity)
        await storage.close()

        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        #expect(try await queue.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") } == Self.allMigrations)
        #expect(try await Self.indexes(queue).isSuperset(of: ["envelopes_by_stored_at", "attachments_by_expiry"]))
        // The quota outlives the process.
        let reopened = try await SQLiteStorage.open(path: path, logger: Self.logger)
        #expect(try await reopened.attachmentQuota.charge(1, to: alice, within: day, now: 3) == .infinity)
        await reopened.close()
    }

    @Test("the expiry statements search by their indexes (EXPLAIN QUERY PLAN), never scan the table")
    func expiryUsesItsIndexes() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("plan.sqlite").path
        await (try await SQLiteStorage.open(path: path, logger: Self.logger)).close()
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let expected = [
            (SQLiteEnvelopeQueue.expiredSQL, "envelopes_by_stored_at"), (SQLiteEnvelopeQueue.expireSQL, "envelopes_by_stored_at"),
            (SQLiteAttachmentStore.expiredSQL, "attachments_by_expiry"), (SQLiteAttachmentStore.expireSQL, "attachments_by_expiry"),
        ]
        for (statement, index) in expected {
            let plan = try await queue.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + statement, arguments: [1_000]).map { $0["detail"] as String }
            }
            print("EXPLAIN QUERY PLAN \(statement): \(plan.joined(separator: "; "))")
            #expect(plan.contains { $0.hasPrefix("SEARCH") && $0.contains("INDEX \(index) ") }, "\(statement): \(plan)")
            #expect(!plan.contains { $0.hasPrefix("SCAN") }, "\(statement): \(plan)")
        }
    }

    /// The names of the indexes in the database.
    private static func indexes(_ queue: DatabaseQueue) async throws -> Set<String> {
        try await queue.read { db in Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index'")) }
    }

    @Test("concurrent enqueues share group-commit transactions; acknowledged envelopes are never leased again")
    func groupCommitAndAcknowledgements() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let storage = try await SQLiteStorage.open(path: directory.appendingPathComponent("q.sqlite").path, logger: Self.logger)
        let queue = storage.envelopes
        let alice = V3Fixtures.accountID(0xa1)
        let ids = try await withThrowingTaskGroup(of: MessageID.self) { group in
            for index in 0..<200 {
                group.addTask { try await queue.enqueue(to: alice, from: alice, envelope: [UInt8(index % 256)], storedAt: 1) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(ids).count == 200)
        #expect(queue.transactions < 200, "\(queue.transactions) transactions for 200 concurrent enqueues")
        #expect(try await queue.waitingCount(for: alice) == 200)

        // Leases and acknowledgements racing: each envelope is leased once, and none after
        // its acknowledgement.
        let delivered = try await withThrowingTaskGroup(of: [MessageID].self) { group in
            for holder in 1...4 {
                group.addTask {
                    var mine: [MessageID] = []
                    while true {
                        let batch = try await queue.lease(for: alice, to: LeaseHolder(UInt64(holder)), limit: 7, until: .max)
                        if batch.isEmpty { return mine }
                        mine += batch.map(\.id)
                        _ = try await queue.acknowledge(batch.map(\.id), for: alice)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(delivered.sorted() == ids.sorted())
        #expect(try await queue.waitingCount(for: alice) == 0)
        #expect(queue.leasedCount == 0)
        await storage.close()
    }

    /// The migrations recorded in the database at `path`, read after closing `storage`.
    private func reopenedMigrations(path: String, closing storage: SQLiteStorage) async throws -> [String] {
        await storage.close()
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try await queue.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
    }
}
