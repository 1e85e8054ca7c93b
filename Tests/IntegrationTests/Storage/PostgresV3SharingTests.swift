@testable import Adapters
import Application
import Domain
import Foundation
import Testing

/// What the v3 stores promise across the server processes sharing one PostgreSQL database:
/// two `PostgresStorage` instances on one schema stand for two processes (each has its own
/// pools and its own listening connection).
@Suite(.enabled(if: PostgresTestDatabase.shouldRun, "set SEALPOST_TEST_POSTGRES_URL to run the PostgreSQL tests"))
struct PostgresV3SharingTests {
    let alice = V3Fixtures.accountID(0xa1)
    let bob = V3Fixtures.accountID(0xb0)

    /// Runs `body` with two storages on one fresh schema, then drops it.
    private func withTwoProcesses(_ body: (PostgresStorage, PostgresStorage) async throws -> Void) async throws {
        let schema = PostgresSchema.fresh()
        let first = try await PostgresSchema.connect(schema)
        let second: PostgresStorage
        do {
            second = try await PostgresSchema.connect(schema)
        } catch {
            await PostgresSchema.drop(schema, closing: first)
            throw error
        }
        do {
            try await body(first, second)
        } catch {
            await second.shutdown()
            await PostgresSchema.drop(schema, closing: first)
            throw error
        }
        await second.shutdown()
        await PostgresSchema.drop(schema, closing: first)
    }

    @Test("takers in two processes hand out each of 50 one-time prekeys exactly once")
    func concurrentTakersAcrossProcesses() async throws {
        try await withTwoProcesses { one, two in
            try await one.accounts.create(
                try V3Fixtures.account(alice, "alice"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(1...50))
            let alice = self.alice
            let taken = try await withThrowingTaskGroup(of: [UInt32].self) { group in
                for store in [one.accounts, two.accounts, one.accounts, two.accounts] {
                    group.addTask {
                        var mine: [UInt32] = []
                        while let bundle = try await store.takeBundle(of: alice), let prekey = bundle.bundle.oneTimePrekey {
                            mine.append(prekey.id)
                        }
                        return mine
                    }
                }
                var perTaker: [[UInt32]] = []
                for try await ids in group { perTaker.append(ids) }
                return perTaker
            }
            let all = taken.flatMap { $0 }
            #expect(all.count == 50)
            #expect(all.sorted() == Array(1...50))
            // Each taker got its prekeys in the order they were stored.
            for ids in taken { #expect(ids == ids.sorted()) }
            print("prekeys taken per taker (two processes, two takers each): \(taken.map(\.count))")
            #expect(try await two.accounts.oneTimePrekeyCount(of: alice) == 0)
            #expect(try await one.accounts.takeBundle(of: alice)?.bundle.oneTimePrekey == nil)
        }
    }

    @Test("attachment charges at once in two processes never pass the quota together")
    func attachmentQuotaAcrossProcesses() async throws {
        try await withTwoProcesses { one, two in
            let alice = self.alice
            // 1 MB a day: over this test, the bucket drains by a few bytes, far from a charge.
            let limit = RateLimit(burst: 1_000_000, perSecond: 1_000_000 / 86_400)
            let admitted = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for (index, quota) in [one.attachmentQuota, two.attachmentQuota, one.attachmentQuota, two.attachmentQuota].enumerated() {
                    group.addTask {
                        var mine = 0
                        for _ in 0..<20 where try await quota.charge(40_000, to: alice, within: limit, now: SystemWallClock().now()) == 0 {
                            mine += 1
                        }
                        return (index % 2, mine)
                    }
                }
                return try await group.reduce(into: [0, 0]) { $0[$1.0] += $1.1 }
            }
            print("attachment quota (two processes, 80 charges of 40 kB against 1 MB): \(admitted) admitted per process")
            #expect(admitted[0] + admitted[1] == 25)
        }
    }

    @Test("holders leasing at once in two processes never get the same envelope; ids are unique across processes")
    func concurrentLeasesAcrossProcesses() async throws {
        try await withTwoProcesses { one, two in
            let alice = self.alice
            let bob = self.bob
            // Both processes store at once: ids are unique, and ascend in each one's order.
            let stored = try await withThrowingTaskGroup(of: [MessageID].self) { group in
                for queue in [one.envelopes, two.envelopes] {
                    group.addTask {
                        var ids: [MessageID] = []
                        for index in 0..<150 {
                            ids.append(try await queue.enqueue(to: alice, from: bob, envelope: [UInt8(index % 256)], storedAt: 1_700_000_000_000))
                        }
                        return ids
                    }
                }
                var all: [[MessageID]] = []
                for try await ids in group { all.append(ids) }
                return all
            }
            for ids in stored { #expect(ids == ids.sorted()) }
            let ids = stored.flatMap { $0 }
            #expect(Set(ids).count == 300)

            // Six holders, three per process, lease without acknowledging until nothing is left.
            let leased = try await withThrowingTaskGroup(of: [MessageID].self) { group in
                for (index, queue) in [one.envelopes, two.envelopes, one.envelopes, two.envelopes, one.envelopes, two.envelopes].enumerated() {
                    group.addTask {
                        let holder = LeaseHolder(UInt64.random(in: 0...UInt64.max) | UInt64(index))
                        var mine: [MessageID] = []
                        while true {
                            let batch = try await queue.lease(for: alice, to: holder, limit: 7, until: 1_900_000_000_000)
                            if batch.isEmpty { return mine }
                            #expect(batch.map(\.id) == batch.map(\.id).sorted())
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(leased.count == 300)
            #expect(Set(leased) == Set(ids))
            #expect(try await one.envelopes.waitingCount(for: alice) == 300)
            // Acknowledged through the other process, they are gone for both.
            #expect(try await two.envelopes.acknowledge(ids, for: alice) == 300)
            #expect(try await one.envelopes.waitingCount(for: alice) == 0)
        }
    }

    @Test("an event posted in one process reaches a subscription in the other")
    func eventsCrossProcesses() async throws {
        try await withTwoProcesses { one, two in
            let subscription = two.notifier.subscribe(alice)
            let seen = EventLog(subscription)
            var latencies: [Duration] = []
            for round in 0..<20 {
                let start = ContinuousClock.now
                await one.notifier.post(.prekeysLow(round), to: alice)
                let arrived = try await eventually(timeout: .seconds(5), every: .milliseconds(1)) { seen.events.contains(.prekeysLow(round)) }
                #expect(arrived, "round \(round): the event did not cross within 5 s")
                latencies.append(ContinuousClock.now - start)
            }
            let sorted = latencies.sorted()
            print("NOTIFY across processes, post to arrival over 20 rounds: median \(sorted[10]), max \(sorted[19])")
            // The other process's subscriptions only: none of its own accounts' events leak.
            await one.notifier.post(.envelopesWaiting, to: bob)
            await one.notifier.post(.envelopesWaiting, to: alice)
            #expect(try await eventually { seen.events.last == .envelopesWaiting })
            #expect(seen.events == (0..<20).map { .prekeysLow($0) } + [.envelopesWaiting], "one of each, in order: no echo, nothing for bob")
            subscription.cancel()
            await seen.finished()
        }
    }

    @Test("a listener whose connection is cut reconnects, tells every subscription .envelopesWaiting, and hears again")
    func listenerReconnects() async throws {
        try await withTwoProcesses { one, two in
            let subscription = two.notifier.subscribe(alice)
            let seen = EventLog(subscription)
            let pid = two.notifier.listenerBackendPID
            #expect(pid != 0)
            let terminated = try await one.messages.pool.withConnection { connection in
                try connection.execute("SELECT pg_terminate_backend($1)", [.int32(pid)]).count
            }
            #expect(terminated == 1)
            #expect(try await eventually { seen.events.contains(.envelopesWaiting) }, "no .envelopesWaiting after the reconnect")
            #expect(two.notifier.listenerReconnects == 1)
            #expect(two.notifier.listenerBackendPID != pid)
            await one.notifier.post(.prekeysLow(4), to: alice)
            #expect(try await eventually { seen.events.contains(.prekeysLow(4)) }, "the reconnected listener does not hear")
            subscription.cancel()
            await seen.finished()
        }
    }

    @Test("a schema at migration 1 with v2 data upgrades in place to the v3 tables")
    func upgradesAV2SchemaInPlace() async throws {
        let url = try #require(StoreKind.postgresURL)
        let schema = PostgresSchema.fresh()
        let carol = ClientID(high: 0xca401, low: 3)
        // The schema as a v2-only server left it: migration 1, one client, one message.
        let connection = PostgresConnection(number: 0, conninfo: url, setup: ["SET client_min_messages TO warning"])
        try connection.open()
        let quoted = PostgresMigrations.quoteIdentifier(schema)
        try connection.execute("CREATE SCHEMA \(quoted)")
        try connection.execute("SET search_path TO \(quoted)")
        try connection.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        for statement in PostgresMigrations.all[0].statements { try connection.execute(statement) }
        try connection.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        try connection.execute(
            "INSERT INTO clients (id, name, public_key) VALUES ($1, 'carol', $2)",
            [.bytes(carol.bytes), .bytes([UInt8](repeating: 0x5c, count: 160))])
        try connection.execute(
            "INSERT INTO messages (recipient, sender, kind, content_size, content) VALUES ($1, $1, 3, 2, $2)",
            [.bytes(carol.bytes), .bytes([4, 2])])
        connection.close()

        let storage = try await PostgresSchema.connect(schema)
        do {
            #expect(try await storage.clients.client(withID: carol)?.name.value == "carol")
            let claim = try await storage.messages.claim(for: carol, budget: ClaimBudget(totalBytes: .max, perMessageOverhead: 25))
            #expect(claim.messages.map(\.inlineContent) == [[4, 2]])
            let versions = try await storage.messages.pool.withConnection { connection in
                let rows = try connection.execute("SELECT version FROM schema_migrations ORDER BY version")
                return try (0..<rows.count).map { try rows.int($0, 0) }
            }
            #expect(versions == PostgresMigrations.all.map { Int64($0.version) })
            try await storage.accounts.create(
                try V3Fixtures.account(alice, "carol"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(1...2))
            #expect(try await storage.accounts.takeBundle(of: alice)?.oneTimePrekeysLeft == 1)
            let id = try await storage.envelopes.enqueue(to: alice, from: alice, envelope: [1], storedAt: 1)
            #expect(try await storage.envelopes.lease(for: alice, to: LeaseHolder(9), limit: 1, until: 2).map(\.id) == [id])
        } catch {
            await PostgresSchema.drop(schema, closing: storage)
            throw error
        }
        await PostgresSchema.drop(schema, closing: storage)
    }
    @Test("the queue vacuums its table once leases and acknowledgements left enough dead rows")
    func churnVacuum() async throws {
        try await PostgresTestDatabase.withStorage { storage, _ in
            let pool = storage.messages.pool
            let queue = PostgresEnvelopeQueue(pool: pool, vacuumEvery: 40)
            func vacuums() async throws -> Int64 {
                try await pool.withConnection { connection in
                    try connection.execute("""
                        SELECT vacuum_count FROM pg_stat_user_tables
                        WHERE schemaname = current_schema() AND relname = 'envelopes'
                        """).int(0, 0)
                }
            }
            let before = try await vacuums()
            for index in 0..<30 { _ = try await queue.enqueue(to: alice, from: bob, envelope: [UInt8(index)], storedAt: 1) }
            let leased = try await queue.lease(for: alice, to: LeaseHolder(1), limit: 30, until: .max)
            #expect(queue.vacuumsStarted == 0)  // 30 dead versions so far
            #expect(try await queue.acknowledge(leased.map(\.id), for: alice) == 30)
            #expect(queue.vacuumsStarted == 1)
            #expect(try await eventually(timeout: .seconds(10)) { try await vacuums() > before })
            #expect(try await queue.waitingCount(for: alice) == 0)
        }
    }
}
