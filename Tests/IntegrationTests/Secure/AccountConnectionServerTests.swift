import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Testing

/// The client's v3 adapter against the real v3 server over real TLS, on every store: the
/// whole request set between two accounts, pushes and acknowledgements, and the reconnecting
/// client across a server restart.
@Suite("v3 client adapter, real server", .serialized, .timeLimit(.minutes(2)))
struct AccountConnectionServerTests {
    static func connect(_ server: SecureTestServer) async throws -> SecureAccountConnection {
        try await SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint))
    }

    static func register(_ name: String, _ keys: AccountKeys, on connection: some AccountServerConnection) async throws -> AccountID {
        try await connection.register(
            name: try AccountName(name), signer: keys, signedPrekey: try keys.publicSignedPrekey(), oneTimePrekeys: try keys.publicOneTimePrekeys())
    }

    /// The next delivery on `events`, with the prekeysLow notices seen before it.
    static func nextDelivery(
        _ events: inout AsyncThrowingStream<AccountServerEvent, any Error>.AsyncIterator
    ) async throws -> (IncomingEnvelope, notices: [Int])? {
        var notices: [Int] = []
        while let event = try await events.next() {
            switch event {
            case .delivery(let envelope): return (envelope, notices)
            case .prekeysLow(let count): notices.append(count)
            case .caughtUp, .reconnecting, .reconnected: break
            }
        }
        return nil
    }

    @Test("register, authenticate, prekeys, lookup, list, bundle, send, push and ACK between two accounts", arguments: StoreKind.available)
    func wholeRequestSet(_ kind: StoreKind) async throws {
        try await SecureAccountsTests.withServer(kind) { server, _ in
            var aliceKeys = try AccountKeys.generate(oneTimePrekeyIDs: 1...5)
            let bobKeys = try AccountKeys.generate(oneTimePrekeyIDs: 1...3)

            let registering = try await Self.connect(server)
            let aliceID = try await Self.register("alice", aliceKeys, on: registering)
            #expect(try await registering.countPrekeys() == 5)
            let added = try aliceKeys.addOneTimePrekeys(ids: 6...8)
            #expect(try await registering.uploadPrekeys(added) == 8)
            let duplicate = await AccountConnectionScriptedTests.refusal { _ = try await registering.uploadPrekeys(added) }
            #expect(duplicate?.code == .duplicatePrekey)
            #expect(await AccountConnectionScriptedTests.refusal { _ = try await Self.register("alice", aliceKeys, on: registering) }?.code == .alreadyAuthenticated)
            await registering.close()

            let bob = try await Self.connect(server)
            let bobID = try await Self.register("bob", bobKeys, on: bob)
            let taken = try await Self.connect(server)
            #expect(await AccountConnectionScriptedTests.refusal { _ = try await Self.register("bob", try AccountKeys.generate(oneTimePrekeyIDs: []), on: taken) }?.code == .nameTaken)
            #expect(await AccountConnectionScriptedTests.refusal { _ = try await taken.authenticate(account: aliceID, signer: bobKeys) }?.code == .authenticationFailed)
            await taken.close()

            // Alice signs in on a new connection, over its own nonce.
            let alice = try await Self.connect(server)
            #expect(try await alice.authenticate(account: aliceID, signer: aliceKeys) == 8)
            var aliceEvents = alice.events.makeAsyncIterator()

            let found = try await bob.lookup(name: try AccountName("alice"))
            #expect(found.id == aliceID && found.identity == aliceKeys.identity)
            #expect(await AccountConnectionScriptedTests.refusal { _ = try await bob.lookup(name: try AccountName("nobody")) }?.code == .noSuchAccount)
            let page = try await bob.list(after: nil, limit: 100)
            #expect(page.entries.map(\.name.value) == ["alice", "bob"] && !page.more)
            #expect(page.entries.map(\.account) == [aliceID, bobID])
            let second = try await bob.list(after: try AccountName("alice"), limit: 1)
            #expect(second.entries.map(\.name.value) == ["bob"])
            let first = try await bob.list(after: nil, limit: 1)
            #expect(first.entries.map(\.name.value) == ["alice"] && first.more)

            let bundle = try await bob.fetchBundle(of: aliceID)
            #expect(bundle.identity == aliceKeys.identity)
            #expect(bundle.signedPrekey == (try aliceKeys.publicSignedPrekey()))
            #expect(bundle.oneTimePrekey?.id == 1)
            #expect(try await alice.countPrekeys() == 7)
            let replaced = try aliceKeys.replaceSignedPrekey(id: 2)
            try await alice.replaceSignedPrekey(replaced)
            let next = try await bob.fetchBundle(of: aliceID)
            #expect(next.signedPrekey == replaced && next.oneTimePrekey?.id == 2)

            let sent = try await bob.send([1, 2, 3], to: aliceID)
            guard let (delivered, notices) = try await Self.nextDelivery(&aliceEvents) else { Issue.record("no delivery"); return }
            #expect(delivered == IncomingEnvelope(messageID: sent.messageID, sender: bobID, serverTime: sent.serverTime, envelope: [1, 2, 3]))
            // Fewer than 10 one-time prekeys: told after AUTHENTICATE and after each bundle fetch.
            #expect(notices.first == 8 && notices.contains(6))
            #expect(try await alice.acknowledge([delivered.messageID]) == 1)
            #expect(try await alice.acknowledge([delivered.messageID]) == 0)

            // Many at once, pipelined on one session, each pushed once.
            let envelopes = (0..<50).map { [UInt8](repeating: UInt8($0), count: 100 + $0) }
            let ids = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for envelope in envelopes { group.addTask { try await bob.send(envelope, to: aliceID).messageID } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            var received: [IncomingEnvelope] = []
            while received.count < envelopes.count {
                guard let (envelope, _) = try await Self.nextDelivery(&aliceEvents) else { break }
                received.append(envelope)
            }
            // Concurrent SENDs are pushed as they are stored: in commit order, which need not be
            // id order (PostgreSQL draws ids before it commits).
            #expect(received.map(\.messageID).sorted() == ids.sorted())
            #expect(Set(received.map(\.envelope)) == Set(envelopes))
            #expect(try await alice.acknowledge(received.map(\.messageID)) == envelopes.count)

            let tooLarge = await AccountConnectionScriptedTests.refusal { _ = try await bob.send([UInt8](repeating: 0, count: 65_537), to: aliceID) }
            guard case .invalidRequest = tooLarge else { Issue.record("\(String(describing: tooLarge))"); return }
            #expect(await AccountConnectionScriptedTests.refusal { _ = try await bob.send([1], to: AccountID(bytes: [UInt8](repeating: 9, count: 16))!) }?.code == .noSuchAccount)
            try await bob.ping()
            await bob.close()
            await alice.close()
            #expect(try await aliceEvents.next() == nil)
        }
    }

    @Test("the reconnecting client across a server restart: authenticated again, the unacknowledged message not shown twice, new ones pushed", arguments: StoreKind.available)
    func reconnectAcrossRestart(_ kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let router = SecureAccountsTests.router(stores)
            let first = try await SecureTestServer.start(router: router)
            let port = first.port
            let certificate = first.server.certificate
            let aliceKeys = try AccountKeys.generate(oneTimePrekeyIDs: 1...20)
            let bobKeys = try AccountKeys.generate(oneTimePrekeyIDs: 1...20)
            let alice = try await ReconnectingAccountConnection.connect(
                host: "127.0.0.1", port: port, verification: .pinned(first.fingerprint), backoff: ReconnectBackoff(initial: .milliseconds(50), maximum: .seconds(1)))
            let aliceID = try await Self.register("alice", aliceKeys, on: alice)
            var events = alice.events.makeAsyncIterator()
            let bob = try await Self.connect(first)
            let bobID = try await Self.register("bob", bobKeys, on: bob)
            let early = try await bob.send([7], to: aliceID)
            guard let (shown, _) = try await Self.nextDelivery(&events) else { Issue.record("no delivery"); return }
            #expect(shown.messageID == early.messageID)
            await bob.close()

            // The server goes away before alice acknowledges; another comes up on the same port.
            await first.stop()
            let second = try await SecureTestServer.start(
                configuration: SecureServerConfiguration(host: "127.0.0.1", port: port, ioThreads: 1), certificate: certificate, router: router)
            var sawReconnect = false
            while let event = try await events.next() {
                if case .reconnected = event { sawReconnect = true; break }
            }
            #expect(sawReconnect)
            // Signed in again: requests work as alice.
            #expect(try await alice.countPrekeys() == 20)
            let bobAgain = try await Self.connect(second)
            _ = try await bobAgain.authenticate(account: bobID, signer: bobKeys)
            let late = try await bobAgain.send([8], to: aliceID)
            guard let (next, _) = try await Self.nextDelivery(&events) else { Issue.record("no delivery after the restart"); return }
            // The early message, delivered again by the new server, is not shown a second time.
            #expect(next.messageID == late.messageID && next.envelope == [8])
            #expect(try await alice.acknowledge([early.messageID, late.messageID]) == 2)
            await bobAgain.close()
            await alice.close()
            await second.stop()
        }
    }
}
