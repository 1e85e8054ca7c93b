import Foundation
import Logging
import Testing
@testable import Adapters
import Application
import Domain

/// Where the PostgreSQL tests find their database.
///
/// Set `SEALPOST_TEST_POSTGRES_URL` (see `scripts/pg-test-cluster`). Without it the suite is
/// skipped, except when `CI` is set: then every test fails, so CI cannot pass silently.
enum PostgresTestDatabase {
    static let url = ProcessInfo.processInfo.environment["SEALPOST_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let isCI = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false
    static let shouldRun = url != nil || isCI

    struct Unconfigured: Error, CustomStringConvertible {
        var description: String { "CI is set but SEALPOST_TEST_POSTGRES_URL is not" }
    }

    /// A storage in a fresh schema, dropped after `body`.
    static func withStorage(
        configuration: PostgresStorage.Configuration = .init(poolSize: 4, uploadPoolSize: 2),
        _ body: (_ storage: PostgresStorage, _ schema: String) async throws -> Void
    ) async throws {
        guard let url else {
            Issue.record("SEALPOST_TEST_POSTGRES_URL is unset while CI is set: the PostgreSQL tests cannot run")
            throw Unconfigured()
        }
        let schema = "test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let storage = try await PostgresStorage.connect(url: url, schema: schema, configuration: configuration, logger: logger)
        do {
            try await body(storage, schema)
        } catch {
            await drop(schema, storage)
            throw error
        }
        await drop(schema, storage)
    }

    static func connect(schema: String) async throws -> PostgresStorage {
        try await PostgresStorage.connect(url: url ?? "", schema: schema, poolSize: 4, logger: logger)
    }

    /// `SELECT count(*) FROM table`.
    static func count(_ table: String, in storage: PostgresStorage) async throws -> Int64 {
        try await storage.messages.pool.withConnection { try $0.execute("SELECT count(*) FROM \(table)").int(0, 0) }
    }

    private static func drop(_ schema: String, _ storage: PostgresStorage) async {
        _ = try? await storage.messages.pool.withConnection { try $0.execute("DROP SCHEMA \(schema) CASCADE") }
        await storage.shutdown()
    }

    static let logger = Logger(label: "sealpost.tests.postgres")
}

/// What only the PostgreSQL store does (leases, several processes, pools, chunks, batching);
/// what every store promises is in `StoreContractTests`.
@Suite(.enabled(if: PostgresTestDatabase.shouldRun, "set SEALPOST_TEST_POSTGRES_URL to run the PostgreSQL tests"))
struct PostgresStorageTests {
    static let unlimited = ClaimBudget(totalBytes: .max, perMessageOverhead: 25)

    static func client(_ name: String, id: ClientID? = nil) throws -> RegisteredClient {
        var generator = SystemRandomNumberGenerator()
        return RegisteredClient(id: id ?? .random(using: &generator), name: try ClientName(name), publicKey: try PublicKey(bytes: [UInt8](repeating: 7, count: 160)))
    }

    static func header(to recipient: ClientID, from sender: ClientID = ClientID(high: 1, low: 1), size: Int, kind: MessageKind = .text) -> MessageHeader {
        MessageHeader(sender: sender, recipient: recipient, kind: kind, contentSize: UInt32(size))
    }

    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
    }

    @Test func recordSeenNotesAreCoalescedAndWritten() async throws {
        try await PostgresTestDatabase.withStorage { storage, _ in
            let directory = storage.clients
            let alice = try Self.client("alice"), bob = try Self.client("bob")
            for client in [bob, alice] { try await directory.register(client) }
            await directory.recordSeen(alice.id, at: 100)
            await directory.recordSeen(alice.id, at: 250)
            await directory.recordSeen(ClientID(high: 5, low: 5), at: 300)
            await directory.flushSeen()
            #expect(try await directory.storedLastSeen(alice.id) == 250)
            #expect(try await directory.storedLastSeen(bob.id) == nil)
        }
    }

    @Test func idsPast32BitsAreKeptWhole() async throws {
        try await PostgresTestDatabase.withStorage(configuration: .init(poolSize: 2, uploadPoolSize: 1, inlineLimit: 8)) { storage, _ in
            let store = storage.messages
            let inbox = ClientID(high: 17, low: 1)
            let past: Int64 = 1 << 32 + 5
            _ = try await store.pool.withConnection { try $0.execute("ALTER TABLE messages ALTER COLUMN id RESTART WITH \(past)") }
            let first = try await store.enqueue(Self.header(to: inbox, size: 3), content: [1, 2, 3])
            let second = try await store.enqueue(Self.header(to: inbox, size: 20), content: Self.bytes(20, seed: 6))
            #expect([first, second].map(\.rawValue) == [UInt64(past), UInt64(past) + 1])
            let claim = try await store.claim(for: inbox, budget: Self.unlimited)
            #expect(claim.messages.map(\.id) == [first, second])
            // Streamed content is found by the full id.
            let reader = try await store.openContent(of: claim.messages[1], in: claim)
            var back: [UInt8] = []
            while let piece = try await reader.next() { back += piece }
            await reader.close()
            #expect(back == Self.bytes(20, seed: 6))
            try await store.renew(claim)
            try await store.acknowledge(claim)
            #expect(try await PostgresTestDatabase.count("messages", in: storage) == 0)
        }
    }
    @Test func renewalPushesTheLeaseForward() async throws {
        try await PostgresTestDatabase.withStorage(configuration: .init(poolSize: 2, uploadPoolSize: 1, claimLease: .seconds(60))) { storage, _ in
            let store = storage.messages
            let anne = ClientID(high: 11, low: 2)
            let id = try await store.enqueue(Self.header(to: anne, size: 1), content: [1])
            let claim = try await store.claim(for: anne, budget: Self.unlimited)
            #expect(claim.messages.map(\.id) == [id])
            func leaseEnd() async throws -> Int64 {
                try await store.pool.withConnection {
                    try $0.execute("SELECT (extract(epoch FROM claimed_until) * 1000000)::int8 FROM messages").int(0, 0)
                }
            }
            let before = try await leaseEnd()
            // Not a wait: time must pass for the renewed lease to end later (the test is
            // about that), and the database's clock is the one that counts.
            try await Task.sleep(for: .milliseconds(50))
            try await store.renew(claim)
            let after = try await leaseEnd()
            #expect(after >= before + 50_000, "renewed from now: at least 50 ms later than the first lease")
            // Still held: no other pull sees it.
            try await store.recover()
            #expect(try await store.claim(for: anne, budget: Self.unlimited).messages.isEmpty)
            try await store.acknowledge(claim)
        }
    }

    @Test func concurrentClaimsNeverShareAMessage() async throws {
        try await PostgresTestDatabase.withStorage { storage, schema in
            let other = try await PostgresTestDatabase.connect(schema: schema)
            let inbox = ClientID(high: 12, low: 1)
            let total = 300
            for index in 0..<total {
                _ = try await storage.messages.enqueue(Self.header(to: inbox, size: 4), content: Self.bytes(4, seed: UInt8(index % 256)))
            }
            let stores: [PostgresMessageStore] = [storage.messages, other.messages]
            let result: Result<[MessageID], any Error>
            do {
                result = .success(try await Self.drain(inbox, workers: 12, from: stores))
            } catch {
                result = .failure(error)
            }
            await other.shutdown()
            let claimed = try result.get()
            #expect(claimed.count == total)
            #expect(Set(claimed).count == total)
        }
    }

    @Test func severalProcessesMigrateOneFreshSchemaAtOnce() async throws {
        try await PostgresTestDatabase.withStorage(configuration: .init(poolSize: 1, uploadPoolSize: 1)) { storage, _ in
            let schema = "test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let storages = try await withThrowingTaskGroup(of: PostgresStorage.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await PostgresStorage.connect(url: PostgresTestDatabase.url ?? "", schema: schema, poolSize: 1, logger: PostgresTestDatabase.logger) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let versions = try await storages[0].messages.pool.withConnection {
                try $0.execute("SELECT count(*) FROM schema_migrations").int(0, 0)
            }
            #expect(versions == Int64(PostgresMigrations.all.count))
            _ = try await storages[0].messages.pool.withConnection { try $0.execute("DROP SCHEMA \(schema) CASCADE") }
            for other in storages { await other.shutdown() }
        }
    }

    @Test func brokenConnectionsAreReconnected() async throws {
        try await PostgresTestDatabase.withStorage(configuration: .init(poolSize: 1, uploadPoolSize: 1)) { storage, schema in
            let pool = storage.messages.pool
            let before = try await pool.withConnection { try $0.execute("SELECT pg_backend_pid()").int(0, 0) }
            let killer = try await PostgresTestDatabase.connect(schema: schema)
            let killed = try await killer.messages.pool.withConnection {
                try $0.execute("SELECT pg_terminate_backend($1::int4, 5000)", [.int64(before)]).raw(0, 0)
            }
            await killer.shutdown()
            #expect(killed == [1], "terminated, and waited for the backend to exit")
            // The next use finds the connection dead and reconnects before sending anything.
            let inbox = ClientID(high: 16, low: 1)
            _ = try await storage.messages.enqueue(Self.header(to: inbox, size: 1), content: [1])
            let after = try await pool.withConnection { try $0.execute("SELECT pg_backend_pid()").int(0, 0) }
            #expect(after != before)
            #expect(try await storage.messages.claim(for: inbox, budget: Self.unlimited).messages.count == 1)
        }
    }

    /// Claims and acknowledges `inbox` from many tasks at once until it is empty.
    static func drain(_ inbox: ClientID, workers: Int, from stores: [PostgresMessageStore]) async throws -> [MessageID] {
        try await withThrowingTaskGroup(of: [MessageID].self) { group in
            for worker in 0..<workers {
                let store = stores[worker % stores.count]
                group.addTask {
                    var mine: [MessageID] = []
                    while true {
                        // 29 bytes per message: up to four per claim.
                        let claim = try await store.claim(for: inbox, budget: ClaimBudget(totalBytes: 4 * 29, perMessageOverhead: 25))
                        if claim.messages.isEmpty { return mine }
                        mine += claim.messages.map(\.id)
                        try await store.acknowledge(claim)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    @Test func largeUploadIsInvisibleUntilCommitAndStreamsBack() async throws {
        try await PostgresTestDatabase.withStorage(configuration: .init(poolSize: 4, uploadPoolSize: 1, chunkSize: 256 * 1024)) { storage, _ in
            let store = storage.messages
            let inbox = ClientID(high: 13, low: 1)
            let size = 5 * 1024 * 1024
            let content = Self.bytes(size, seed: 0x5a)
            let upload = try await store.beginUpload(Self.header(to: inbox, size: size, kind: .file))
            var offset = 0
            while offset < size {
                let end = min(offset + 64 * 1024, size)
                try await upload.write(Array(content[offset..<end]))
                offset = end
                if offset == size / 2 {
                    #expect(try await store.claim(for: inbox, budget: Self.unlimited).messages.isEmpty)
                    #expect(try await PostgresTestDatabase.count("message_chunks", in: storage) == 0)
                }
            }
            let id = try await upload.commit()
            #expect(id.rawValue == 1)
            #expect(try await PostgresTestDatabase.count("message_chunks", in: storage) == 20)

            let claim = try await store.claim(for: inbox, budget: ClaimBudget(totalBytes: 1, perMessageOverhead: 25))
            let envelope = try #require(claim.messages.first)
            #expect(envelope.inlineContent == nil && envelope.contentSize == UInt32(size) && envelope.kind == .file)
            let reader = try await store.openContent(of: envelope, in: claim)
            var readBack: [UInt8] = []
            var pieces = 0
            while let piece = try await reader.next() {
                #expect(piece.count <= 256 * 1024)
                readBack += piece
                pieces += 1
            }
            await reader.close()
            #expect(pieces == 20)
            #expect(readBack == content)

            let stranger = MessageClaim(token: claim.token &+ 1, recipient: inbox, messages: claim.messages)
            await #expect(throws: StoreError.self) { try await store.openContent(of: envelope, in: stranger) }

            try await store.acknowledge(claim)
            #expect(try await PostgresTestDatabase.count("message_chunks", in: storage) == 0)
            #expect(try await PostgresTestDatabase.count("messages", in: storage) == 0)
        }
    }

    @Test func failedUploadsGiveTheirConnectionsBack() async throws {
        try await PostgresTestDatabase.withStorage(configuration: .init(poolSize: 2, uploadPoolSize: 2, inlineLimit: 1024, chunkSize: 4096)) { storage, _ in
            let store = storage.messages
            let inbox = ClientID(high: 14, low: 1)
            // Each large upload holds one of the two upload connections until it ends.
            for _ in 0..<3 {
                let aborted = try await store.beginUpload(Self.header(to: inbox, size: 100_000))
                try await aborted.write(Self.bytes(50_000, seed: 1))
                await aborted.abort()
                let short = try await store.beginUpload(Self.header(to: inbox, size: 100_000))
                try await short.write(Self.bytes(10_000, seed: 2))
                await #expect(throws: StoreError.sizeMismatch(declared: 100_000, written: 10_000)) { try await short.commit() }
                let long = try await store.beginUpload(Self.header(to: inbox, size: 5000))
                await #expect(throws: StoreError.sizeMismatch(declared: 5000, written: 6000)) {
                    try await long.write(Self.bytes(6000, seed: 3))
                }
                await long.abort()
            }
            #expect(try await PostgresTestDatabase.count("message_chunks", in: storage) == 0)
            // The pool is whole again: every upload connection came back.
            for _ in 0..<10 {
                let upload = try await store.beginUpload(Self.header(to: inbox, size: 2000))
                try await upload.write(Self.bytes(2000, seed: 4))
                _ = try await upload.commit()
            }
            #expect(try await store.claim(for: inbox, budget: Self.unlimited).messages.count == 10)
        }
    }
    @Test func concurrentEnqueuesGetDistinctIDs() async throws {
        try await PostgresTestDatabase.withStorage { storage, _ in
            let store = storage.messages
            let inbox = ClientID(high: 15, low: 1)
            let count = 400
            let ids = try await withThrowingTaskGroup(of: MessageID.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await store.enqueue(Self.header(to: inbox, size: 8), content: Self.bytes(8, seed: UInt8(index % 256)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(ids).count == count)
            let batches = store.batcher.batchesWritten
            #expect(batches < count / 4, "concurrent enqueues share transactions (\(batches) for \(count))")
            #expect(Set(ids.map(\.rawValue)) == Set(1...UInt64(count)))
            let claim = try await store.claim(for: inbox, budget: Self.unlimited)
            #expect(claim.messages.map(\.id) == ids.sorted())
        }
    }
}
