import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Testing

/// The v3 server over real TLS and every store: registration, authentication and its attacks
/// (another's key, a replayed transcript, a relay through another certificate), requests as
/// the session's own account, push delivery with acknowledgements.
@Suite("secure accounts", .serialized)
struct SecureAccountsTests {
    static func router(_ stores: AccountTestStores, limits: AccountLimits = .load) -> SecureRequestRouter {
        SecureRequestRouter(useCases: AccountUseCases(
            accounts: stores.accounts, queue: stores.envelopes, notifier: stores.notifier,
            verifier: OpenSSLSignatureVerifier(), clock: SystemWallClock(), limits: limits))
    }

    /// A server on `kind`'s fresh stores, for `body`.
    static func withServer<T>(_ kind: StoreKind, configuration: SecureServerConfiguration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1),
                              limits: AccountLimits = .load, _ body: (SecureTestServer, AccountTestStores) async throws -> T) async throws -> T {
        try await AccountTestStores.with(kind) { stores in
            try await SecureTestServer.with(configuration: configuration, router: router(stores, limits: limits)) { server in
                try await body(server, stores)
            }
        }
    }

    static func probe<T: Sendable>(_ server: SecureTestServer, _ body: (V3Probe) async throws -> T) async throws -> T {
        try await withPinnedSession(server) { try await body(V3Probe($0)) }
    }

    @Test("register, then authenticate on a new connection; the session acts as its account", arguments: StoreKind.available)
    func registerAndAuthenticate(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let id = try await Self.probe(server) { (probe: V3Probe) async throws in
                let id = try await probe.register(alice, prekeys: 12)
                // Registered means signed in: requests work at once; a second sign-in does not.
                #expect(try await probe.call(.countPrekeys) == .success(.prekeyCount(12)))
                #expect(try await probe.authenticate(alice, as: id).failureCode == .alreadyAuthenticated)
                return id
            }
            try await Self.probe(server) { (probe: V3Probe) async throws in
                #expect(try await probe.authenticate(alice, as: id) == .success(.authenticated(oneTimePrekeysLeft: 12)))
                guard case .success(.account(let found, let name, let identity)) = try await probe.call(.lookup(name: "alice")) else {
                    Issue.record("lookup failed"); return
                }
                let expected = try alice.identity()
                #expect(found == id && name == "alice" && identity == expected)
            }
        }
    }

    @Test("REGISTER again with the same identity answers with the same account (a lost answer); another identity gets nameTaken", arguments: StoreKind.available)
    func registerIsIdempotentForItsKey(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let first = try await Self.probe(server) { try await $0.register(alice, prekeys: 7) }
            try await Self.probe(server) { (probe: V3Probe) async throws in
                #expect(try await probe.register(alice, prekeys: 7) == first)
                // Authenticated as it, and its prekeys are those it had.
                #expect(try await probe.call(.countPrekeys) == .success(.prekeyCount(7)))
            }
            let other = try V3TestAccount("alice")
            try await Self.probe(server) { (probe: V3Probe) async throws in
                let answer = try await probe.call(try other.register(nonce: probe.nonce, certificateHash: probe.certificateHash, prekeys: 1))
                #expect(answer.failureCode == .nameTaken)
            }
        }
    }

    @Test("B's key cannot open A's session; an unknown account fails the same way", arguments: StoreKind.available)
    func anotherKeyFails(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let aliceID = try await Self.probe(server) { try await $0.register(alice) }
            _ = try await Self.probe(server) { try await $0.register(bob) }
            try await Self.probe(server) { (probe: V3Probe) async throws in
                #expect(try await probe.authenticate(bob, as: aliceID).failureCode == .authenticationFailed)
                let unknown = AccountID(bytes: [UInt8](repeating: 0x42, count: 16))!
                #expect(try await probe.authenticate(bob, as: unknown).failureCode == .authenticationFailed)
                // Still unauthenticated: nothing else is allowed.
                #expect(try await probe.call(.countPrekeys).failureCode == .notAuthenticated)
                #expect(try await probe.call(.send(recipient: aliceID, envelope: ByteBuffer(bytes: [1]))).failureCode == .notAuthenticated)
                // The right key still works on the same session.
                #expect(try await probe.authenticate(alice, as: aliceID) == .success(.authenticated(oneTimePrekeysLeft: 5)))
            }
        }
    }

    @Test("an AUTHENTICATE replayed byte for byte on another connection fails (fresh nonce)", arguments: StoreKind.available)
    func replayedTranscriptFails(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let id = try await Self.probe(server) { try await $0.register(alice) }
            let recorded = try await Self.probe(server) { (probe: V3Probe) async throws in
                let request = try alice.authenticate(id, nonce: probe.nonce, certificateHash: probe.certificateHash)
                #expect(try await probe.call(request) == .success(.authenticated(oneTimePrekeysLeft: 5)))
                return request
            }
            try await Self.probe(server) { (probe: V3Probe) async throws in
                #expect(try await probe.call(recorded).failureCode == .authenticationFailed)
            }
        }
    }

    @Test("a client that relays through another certificate fails: the signature binds the certificate it saw", arguments: [StoreKind.memory])
    func relayThroughAnotherCertificateFails(_ kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let router = Self.router(stores)
            // Two servers on one store with different certificates: the client talks to the
            // relay, which forwards the client's signature to the real server.
            try await SecureTestServer.with(router: router) { real in
                try await SecureTestServer.with(router: router) { relay in
                    let alice = try V3TestAccount("alice")
                    let id = try await Self.probe(real) { try await $0.register(alice) }
                    let relayHash = try await Self.probe(relay) { $0.certificateHash }
                    try await Self.probe(real) { (probe: V3Probe) async throws in
                        #expect(probe.certificateHash != relayHash)
                        // Right nonce (the real server's), but the relay's certificate hash.
                        let forwarded = try alice.authenticate(id, nonce: probe.nonce, certificateHash: relayHash)
                        #expect(try await probe.call(forwarded).failureCode == .authenticationFailed)
                        // A registration proof made through the relay fails too.
                        let relayed = try V3TestAccount("mallory").register(nonce: probe.nonce, certificateHash: relayHash)
                        #expect(try await probe.call(relayed).failureCode == .badSignature)
                    }
                }
            }
        }
    }

    @Test("messages are pushed with the authenticated sender, deleted only on ACK, and redelivered after a session ends unacknowledged", arguments: StoreKind.available)
    func pushAndAcknowledge(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let aliceID = try await Self.probe(server) { try await $0.register(alice) }
            let bobID = try await Self.probe(server) { try await $0.register(bob) }
            // Two waiting before Bob connects.
            try await Self.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(alice, as: aliceID)
                for text in ["one", "two"] {
                    guard case .success(.sent) = try await probe.call(.send(recipient: bobID, envelope: ByteBuffer(string: text))) else {
                        Issue.record("send refused"); return
                    }
                }
            }
            // Bob gets both, acknowledges neither, and leaves.
            let firstIDs = try await Self.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                let got = try await probe.deliveries(2)
                #expect(got.map { String(buffer: $0.envelope) } == ["one", "two"])
                #expect(got.allSatisfy { $0.sender == aliceID })
                return got.map(\.messageID)
            }
            // Next session: both again; ACK one; a new message arrives live while connected.
            try await Self.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                let again = try await probe.deliveries(2)
                #expect(again.map(\.messageID) == firstIDs)
                #expect(try await probe.call(.ack([firstIDs[0]])) == .success(.acknowledged(1)))
                #expect(try await probe.call(.ack([firstIDs[0]])) == .success(.acknowledged(0)))
                try await Self.probe(server) { (sender: V3Probe) async throws in
                    _ = try await sender.authenticate(alice, as: aliceID)
                    _ = try await sender.call(.send(recipient: bobID, envelope: ByteBuffer(string: "three")))
                }
                let live = try await probe.deliveries(3)
                #expect(String(buffer: live[2].envelope) == "three")
                #expect(try await probe.call(.ack([firstIDs[1], live[2].messageID])) == .success(.acknowledged(2)))
            }
            // Nothing left.
            try await Self.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                #expect(try await probe.call(.ping) == .success(.done))
                #expect(probe.delivered.isEmpty)
            }
        }
    }

    @Test("an account cannot acknowledge (delete) another's messages", arguments: [StoreKind.memory])
    func cannotAcknowledgeOthers(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, stores in
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let aliceID = try await Self.probe(server) { try await $0.register(alice) }
            let bobID = try await Self.probe(server) { try await $0.register(bob) }
            let sent = try await Self.probe(server) { probe -> UInt64 in
                _ = try await probe.authenticate(alice, as: aliceID)
                guard case .success(.sent(let id, _)) = try await probe.call(.send(recipient: bobID, envelope: ByteBuffer(string: "x"))) else { return 0 }
                // Alice knows the id; her ACK deletes nothing of Bob's.
                #expect(try await probe.call(.ack([id])) == .success(.acknowledged(0)))
                return id
            }
            #expect(try await stores.envelopes.waitingCount(for: bobID) == 1)
            #expect(sent > 0)
        }
    }

    @Test("an envelope over maxEnvelopeBytes gets tooLarge and the session goes on; unknown recipients get noSuchAccount", arguments: [StoreKind.memory])
    func oversizedEnvelope(_ kind: StoreKind) async throws {
        var configuration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1)
        configuration.maxEnvelopeBytes = 1000
        try await Self.withServer(kind, configuration: configuration, limits: AccountLimits(maxEnvelopeBytes: 1000)) { server, _ in
            let alice = try V3TestAccount("alice")
            try await Self.probe(server) { (probe: V3Probe) async throws in
                let id = try await probe.register(alice)
                #expect(try await probe.call(.send(recipient: id, envelope: ByteBuffer(bytes: [UInt8](repeating: 1, count: 1001)))).failureCode == .tooLarge)
                #expect(try await probe.call(.send(recipient: AccountID(bytes: [UInt8](repeating: 3, count: 16))!, envelope: ByteBuffer(bytes: [1]))).failureCode == .noSuchAccount)
                guard case .success(.sent) = try await probe.call(.send(recipient: id, envelope: ByteBuffer(bytes: [UInt8](repeating: 1, count: 1000)))) else {
                    Issue.record("a 1000-byte envelope was refused"); return
                }
            }
        }
    }

    @Test("bundles: one-time prekeys are handed out once each; the owner is told when they run low", arguments: StoreKind.available)
    func bundlesAndNotices(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let aliceID = try await Self.probe(server) { try await $0.register(alice, prekeys: 2) }
            let bobID = try await Self.probe(server) { try await $0.register(bob) }
            try await Self.probe(server) { (owner: V3Probe) async throws in
                // Fewer than 10 left: told right after AUTHENTICATE.
                #expect(try await owner.authenticate(alice, as: aliceID) == .success(.authenticated(oneTimePrekeysLeft: 2)))
                var handed: [UInt32?] = []
                try await Self.probe(server) { (fetcher: V3Probe) async throws in
                    _ = try await fetcher.authenticate(bob, as: bobID)
                    for _ in 0..<3 {
                        guard case .success(.bundle(let bundle)) = try await fetcher.call(.fetchBundle(aliceID)) else { throw ProbeError("no bundle") }
                        let expected = try alice.identity()
                        #expect(bundle.identity == expected)
                        handed.append(bundle.oneTimePrekey?.id)
                    }
                }
                #expect(handed == [100, 101, nil])
                // The owner's session hears prekeysLow: 2 at sign-in, then 1 and 0.
                // Pushed frames arrive in between answers: ping (bounded) until they are in.
                let prekeyNotices = { owner.notices.filter { $0 != .caughtUp } }
                for _ in 0..<500 where prekeyNotices().count < 3 {
                    _ = try await owner.call(.ping)
                }
                #expect(prekeyNotices().prefix(3) == [.prekeysLow(count: 2), .prekeysLow(count: 1), .prekeysLow(count: 0)])
                #expect(try await owner.call(.uploadPrekeys([try alice.prekey(id: 500, signed: false)])) == .success(.prekeysStored(1)))
            }
        }
    }
}
