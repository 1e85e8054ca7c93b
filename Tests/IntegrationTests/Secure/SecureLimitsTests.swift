import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Testing

/// Hostile clients against the v3 limits over real TLS (docs/protocol-v3.md §7): a prekey
/// drainer, a sender filling an inbox, registrations and password-guessing from one address;
/// and the inbox cap across two servers on one PostgreSQL database. The flooding sender has
/// a suite of its own (`SecureFloodTests`).
@Suite("secure limits", .serialized)
struct SecureLimitsTests {
    static func envelope(_ byte: UInt8, _ count: Int = 64) -> ByteBuffer {
        ByteBuffer(bytes: [UInt8](repeating: byte, count: count))
    }

    /// Registers `account` on a session of its own; returns its id.
    static func register(_ account: V3TestAccount, on server: SecureTestServer, prekeys: Int = 5) async throws -> AccountID {
        try await SecureAccountsTests.probe(server) { try await $0.register(account, prekeys: prekeys) }
    }

    /// Runs `body` on a session authenticated as `id`.
    static func signedIn<T: Sendable>(_ account: V3TestAccount, _ id: AccountID, on server: SecureTestServer,
                                      _ body: (V3Probe) async throws -> T) async throws -> T {
        try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
            guard case .success = try await probe.authenticate(account, as: id) else { throw ProbeError("AUTHENTICATE \(account.name) refused") }
            return try await body(probe)
        }
    }

    @Test("a fetcher draining one-time prekeys is stopped after 6 bundles; the rest stay", arguments: StoreKind.available)
    func prekeyDrain(_ kind: StoreKind) async throws {
        try await SecureAccountsTests.withServer(kind, limits: AccountLimits()) { server, _ in
            let owner = try V3TestAccount("owner")
            let drainer = try V3TestAccount("drainer")
            let ownerID = try await Self.register(owner, on: server, prekeys: 20)
            let drainerID = try await Self.register(drainer, on: server)
            let answers = try await Self.signedIn(drainer, drainerID, on: server) { (probe: V3Probe) async throws in
                try await probe.pipeline((0..<20).map { _ in .fetchBundle(ownerID) })
            }
            let bundles = answers.filter { if case .success(.bundle) = $0 { true } else { false } }
            let refusals = answers.compactMap { if case .failure(let error) = $0 { error } else { nil } }
            print("prekey drain (\(kind)): \(bundles.count) bundles, \(refusals.count) refused, retry-after \(refusals.first?.retryAfterMilliseconds ?? 0) ms")
            #expect(bundles.count == 6)
            #expect(refusals.count == 14 && refusals.allSatisfy { $0.knownCode == .rateLimited && $0.retryAfterMilliseconds > 90_000 })
            try await Self.signedIn(owner, ownerID, on: server) { (probe: V3Probe) async throws in
                #expect(try await probe.call(.countPrekeys) == .success(.prekeyCount(14)))
            }
        }
    }

    @Test("a sender filling an inbox gets inboxFull at its share; the others can still fill the rest, then all get inboxFull; an ACK makes room", arguments: StoreKind.available)
    func inboxFull(_ kind: StoreKind) async throws {
        var limits = AccountLimits()
        limits.inbox = InboxCap(maxMessages: 20, maxBytes: 1 << 20, senderSharePercent: 50)
        try await SecureAccountsTests.withServer(kind, limits: limits) { server, stores in
            let accounts = try ["recipient", "flooder", "friend", "late"].map { try V3TestAccount($0) }
            var ids: [AccountID] = []
            for account in accounts { ids.append(try await Self.register(account, on: server)) }
            let (recipientID, flooderID, friendID, lateID) = (ids[0], ids[1], ids[2], ids[3])
            func flood(_ account: V3TestAccount, _ id: AccountID, _ count: Int) async throws -> (stored: Int, full: [V3Error]) {
                let answers = try await Self.signedIn(account, id, on: server) { (probe: V3Probe) async throws in
                    try await probe.pipeline((0..<count).map { _ in .send(recipient: recipientID, envelope: Self.envelope(UInt8(truncatingIfNeeded: id.bytes[0]))) })
                }
                let full = answers.compactMap { if case .failure(let error) = $0 { error } else { nil } }
                return (answers.count - full.count, full)
            }
            let flooder = try await flood(accounts[1], flooderID, 30)
            #expect(flooder.stored == 10)
            #expect(flooder.full.count == 20 && flooder.full.allSatisfy { $0.knownCode == .inboxFull && $0.retryAfterMilliseconds == 60_000 })
            // The flooder could not take the friend's room.
            let friend = try await flood(accounts[2], friendID, 12)
            #expect(friend.stored == 10 && friend.full.count == 2)
            let late = try await flood(accounts[3], lateID, 1)
            #expect(late.stored == 0 && late.full.first?.knownCode == .inboxFull)
            #expect(try await stores.envelopes.waitingCount(for: recipientID) == 20)
            print("inbox cap (\(kind)): flooder stored \(flooder.stored) of 30, friend \(friend.stored) of 12, late \(late.stored) of 1: \(LimitExplanation.text(code: flooder.full[0].code, retryAfterMilliseconds: flooder.full[0].retryAfterMilliseconds) ?? "")")

            // The recipient reads and acknowledges three: room for three more.
            try await Self.signedIn(accounts[0], recipientID, on: server) { (probe: V3Probe) async throws in
                let delivered = try await probe.deliveries(3)
                #expect(try await probe.call(.ack(delivered.prefix(3).map(\.messageID))) == .success(.acknowledged(3)))
            }
            let after = try await flood(accounts[3], lateID, 4)
            #expect(after.stored == 3 && after.full.count == 1)
        }
    }

    @Test("two servers on one PostgreSQL database never let an inbox pass its cap together", arguments: [StoreKind.postgres].filter { StoreKind.available.contains($0) })
    func capAcrossProcesses(_ kind: StoreKind) async throws {
        let schema = PostgresSchema.fresh()
        let one = try await PostgresSchema.connect(schema)
        let two = try await PostgresSchema.connect(schema)
        var limits = AccountLimits()
        limits.inbox = InboxCap(maxMessages: 50, maxBytes: 1 << 20, senderSharePercent: 100)
        func router(_ storage: PostgresStorage) -> SecureRequestRouter {
            SecureRequestRouter(useCases: AccountUseCases(
                accounts: storage.accounts, queue: storage.envelopes, notifier: storage.notifier,
                verifier: OpenSSLSignatureVerifier(), clock: SystemWallClock(), limits: limits))
        }
        do {
            try await SecureTestServer.with(router: router(one)) { first in
                try await SecureTestServer.with(router: router(two)) { second in
                    let recipient = try V3TestAccount("recipient")
                    let recipientID = try await Self.register(recipient, on: first)
                    for round in 0..<3 {
                        // Fresh senders each round, one on each server: 40 SENDs each stay
                        // within a pair's burst (60), so only the cap refuses.
                        let (a, b) = try (V3TestAccount("sender-a\(round)"), V3TestAccount("sender-b\(round)"))
                        let aID = try await Self.register(a, on: first)
                        let bID = try await Self.register(b, on: second)
                        let requests: [V3Request] = (0..<40).map { _ in .send(recipient: recipientID, envelope: Self.envelope(UInt8(round))) }
                        async let fromA = Self.signedIn(a, aID, on: first) { try await $0.pipeline(requests) }
                        async let fromB = Self.signedIn(b, bID, on: second) { try await $0.pipeline(requests) }
                        let answers = try await fromA + fromB
                        let stored = answers.filter { if case .success = $0 { true } else { false } }.count
                        let full = answers.filter { $0.failureCode == .inboxFull }.count
                        let waiting = try await one.envelopes.waitingCount(for: recipientID)
                        print("cap across two servers, round \(round): \(stored) stored, \(full) inboxFull, \(waiting) waiting (cap 50)")
                        #expect(stored == 50 && full == 30 && waiting == 50)
                        // Empty the inbox for the next round.
                        #expect(try await one.envelopes.expire(storedBefore: .max) == 50)
                    }
                }
            }
        } catch {
            await two.shutdown()
            await PostgresSchema.drop(schema, closing: one)
            throw error
        }
        await two.shutdown()
        await PostgresSchema.drop(schema, closing: one)
    }

    @Test("registrations from one address: 10, then rateLimited; failed authentications: 10, then even the right key is refused")
    func addressLimits() async throws {
        try await SecureAccountsTests.withServer(.memory, limits: AccountLimits()) { server, _ in
            let alice = try V3TestAccount("alice")
            let aliceID = try await Self.register(alice, on: server)
            for index in 1..<10 { _ = try await Self.register(try V3TestAccount("user\(index)"), on: server) }
            let eleventh = try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
                try await probe.call(try V3TestAccount("user10").register(nonce: probe.nonce, certificateHash: probe.certificateHash))
            }
            guard case .failure(let refused) = eleventh else { Issue.record("the 11th registration was accepted"); return }
            #expect(refused.knownCode == .rateLimited && refused.retryAfterMilliseconds > 50_000)
            print("registrations: the 11th from 127.0.0.1 refused: \(LimitExplanation.text(code: refused.code, retryAfterMilliseconds: refused.retryAfterMilliseconds) ?? "")")

            let mallory = try V3TestAccount("mallory")
            try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
                for _ in 0..<10 { #expect(try await probe.authenticate(mallory, as: aliceID).failureCode == .authenticationFailed) }
                let blocked = try await probe.authenticate(alice, as: aliceID)
                #expect(blocked.failureCode == .rateLimited)
                if case .failure(let error) = blocked {
                    #expect(error.retryAfterMilliseconds > 0 && error.retryAfterMilliseconds <= 10_000)
                    print("authentication: after 10 failures even the right key waits: \(LimitExplanation.text(code: error.code, retryAfterMilliseconds: error.retryAfterMilliseconds) ?? "")")
                }
            }
        }
    }

    @Test("limits.inbox and limits.rate from the configuration file reach `serve`")
    func configured() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("limits.json").path
        try #"{"limits": {"inbox": {"maxMessages": 3, "senderSharePercent": 100, "retryAfterSeconds": 5}, "rate": {"bundleFetches": {"burst": 2}}}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let server = try await ServerProcess.start(arguments: ["--config", config, "--store", "memory"], lines: 2)
        let fingerprint = try #require(server.lines[1].split(separator: " ").last.flatMap { ServerFingerprint(hex: String($0).trimmingCharacters(in: .whitespacesAndNewlines)) })
        let port = try #require(ServerProcess.port(in: server.lines[1]))
        func session<T: Sendable>(_ body: (V3Probe) async throws -> T) async throws -> T {
            try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .pinned(fingerprint)) { try await body(V3Probe($0)) }
        }
        let recipientID = try await session { try await $0.register(try V3TestAccount("recipient")) }
        let answers = try await session { (probe: V3Probe) async throws in
            _ = try await probe.register(try V3TestAccount("sender"))
            return try await probe.pipeline((0..<4).map { _ in .send(recipient: recipientID, envelope: Self.envelope(1)) }
                                            + (0..<3).map { _ in .fetchBundle(recipientID) })
        }
        // Pipelined requests run concurrently: which one is refused is not fixed, how many is.
        let sends = answers.prefix(4)
        let fetches = answers.suffix(3)
        #expect(sends.filter { if case .success = $0 { true } else { false } }.count == 3)
        let full = sends.compactMap { if case .failure(let error) = $0 { error } else { nil } }
        #expect(full.count == 1 && full.first?.knownCode == .inboxFull && full.first?.retryAfterMilliseconds == 5000)
        #expect(fetches.filter { if case .success = $0 { true } else { false } }.count == 2)
        #expect(fetches.filter { $0.failureCode == .rateLimited }.count == 1)
        #expect(await server.terminate() == 0)
    }
}

