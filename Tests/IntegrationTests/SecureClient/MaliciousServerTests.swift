import Adapters
import Application
import Domain
import Foundation
import Testing

/// The `sealpost` binary on v3 homes against a malicious server: the real server in this
/// process over real TLS, on stores that swap a bundle's identity, withhold one-time prekeys,
/// replay envelopes and reorder deliveries.
@Suite("Client: the v3 CLI against a malicious server", .serialized, .timeLimit(.minutes(3)))
struct MaliciousServerTests {
    /// A server on tampering stores, and `sealpost` runs against it.
    struct Setup: Sendable {
        let server: SecureTestServer
        let accounts: TamperingAccountStore
        let queue: TamperingEnvelopeQueue
        let root: URL

        func home(_ name: String) -> String { root.appendingPathComponent("home-\(name)").path }

        func run(_ home: String, _ arguments: String...) async throws -> SealpostBinary.Result {
            try await SealpostBinary.run(
                arguments + ["--home", self.home(home), "--server", "127.0.0.1:\(server.port)", "--server-fingerprint", server.fingerprint.hex],
                directory: root)
        }

        @discardableResult
        func register(_ name: String) async throws -> AccountID {
            let result = try await run(name, "register", name)
            guard result.status == 0, let id = result.lines.first.flatMap(AccountID.init(hex:)) else { throw TestSetupError("register: \(result.stderr)") }
            return id
        }

        /// `inbox --json` until `count` messages were shown; returns every event line.
        func receive(_ home: String, count: Int) async throws -> [[String: Any]] {
            var events: [[String: Any]] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while events.filter({ $0["event"] as? String == "message" }).count < count, ContinuousClock.now < deadline {
                let result = try await run(home, "inbox", "--json")
                events += result.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            return events
        }
    }

    static func with(deliveryWindow: UInt16 = 256, _ body: (Setup) async throws -> Void) async throws {
        try await AccountTestStores.with(.memory) { stores in
            let accounts = TamperingAccountStore(stores.accounts)
            let queue = TamperingEnvelopeQueue(stores.envelopes)
            let router = SecureRequestRouter(useCases: AccountUseCases(
                accounts: accounts, queue: queue, notifier: stores.notifier,
                verifier: OpenSSLSignatureVerifier(), clock: SystemWallClock(), limits: AccountLimits()))
            let root = try TestStores.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: root) }
            let configuration = SecureServerConfiguration(host: "127.0.0.1", port: 0, deliveryWindow: deliveryWindow, ioThreads: 1)
            try await SecureTestServer.with(configuration: configuration, router: router) { server in
                try await body(Setup(server: server, accounts: accounts, queue: queue, root: root))
            }
        }
    }

    @Test("a server that never says caughtUp: inbox shows what came and leaves after 3 s without news")
    func noCaughtUpFallback() async throws {
        try await Self.with(deliveryWindow: 1) { setup in
            try await setup.register("alice")
            let bob = try await setup.register("bob")
            for index in 0..<3 { #expect(try await setup.run("alice", "send", "bob", "m\(index)").status == 0) }
            setup.queue.stallsWhenEmpty.withLock { $0 = true }
            defer { setup.queue.stallsWhenEmpty.withLock { $0 = false } }
            let began = ContinuousClock.now
            let result = try await setup.run("bob", "inbox", "--json")
            let took = ContinuousClock.now - began
            #expect(result.status == 0, "\(result.stderr)")
            let texts = result.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .compactMap { $0["text"] as? String }
            #expect(texts == ["m0", "m1", "m2"])
            // It waited for the silence (no notice ended it), and it did end.
            #expect(took >= .seconds(3) && took < .seconds(60), "took \(took)")
            #expect(try await eventually(timeout: .seconds(10)) { try await setup.queue.waitingCount(for: bob) == 0 })
        }
    }

    @Test("a bundle under another identity: a key-change warning with both safety numbers, nothing sent, until trust")
    func swappedBundle() async throws {
        try await Self.with { setup in
            try await setup.register("alice")
            let bob = try await setup.register("bob")
            setup.accounts.mode.withLock { $0 = .swapIdentity(try! AccountKeys.generate(oneTimePrekeyIDs: [])) }

            let refused = try await setup.run("alice", "send", "bob", "for bob's eyes")
            #expect(refused.status == 1)
            #expect(refused.stderr.hasPrefix("sealpost: key changed:") && refused.stderr.split(separator: "\n").count == 1)
            #expect(refused.stderr.contains("Old safety number") && refused.stderr.contains("trust bob"))
            #expect(try await setup.queue.waitingCount(for: bob) == 0)

            // Refused again while the change waits: nothing is fetched or sent.
            let again = try await setup.run("alice", "send", "bob", "again")
            #expect(again.status == 1 && again.stderr.hasPrefix("sealpost: key changed:"))
            #expect(try await setup.queue.waitingCount(for: bob) == 0)

            let contacts = try await setup.run("alice", "contacts", "--json")
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(contacts.stdout.utf8)) as? [[String: Any]])
            #expect(listed.count == 1 && listed.first?["name"] as? String == "bob" && listed.first?["key_changed"] as? Bool == true)
            let number = try await setup.run("alice", "safety-number", "bob", "--json")
            let numbers = try #require(try JSONSerialization.jsonObject(with: Data(number.stdout.utf8)) as? [String: Any])
            let old = try #require(numbers["safety_number"] as? String), new = try #require(numbers["new_safety_number"] as? String)
            #expect(old != new)
            // Bob's own view of the number is the old one: comparing in person exposes the swap.
            let bobSide = try await setup.run("bob", "safety-number", "alice")
            #expect(bobSide.stdout.trimmingCharacters(in: .newlines) == old)

            // The user accepts the key knowingly: then sending goes on (to the new key).
            let trusted = try await setup.run("alice", "trust", "bob")
            #expect(trusted.status == 0, "\(trusted.stderr)")
            let afterTrust = try await setup.run("alice", "contacts", "--json")
            #expect(afterTrust.stdout.contains("\"key_changed\": false"))
        }
    }

    @Test("a verified contact whose key changes is refused harder: trust needs the explicit flag")
    func verifiedContactKeyChange() async throws {
        try await Self.with { setup in
            try await setup.register("alice")
            let bob = try await setup.register("bob")
            // Alice pins bob (LOOKUP) and verifies the number bob reads to her.
            let number = try await setup.run("alice", "safety-number", "bob")
            #expect(number.status == 0, "\(number.stderr)")
            let bobSide = try await setup.run("bob", "safety-number", "alice")
            #expect(bobSide.stdout == number.stdout)
            let verified = try await setup.run("alice", "verify", "bob", number.stdout.trimmingCharacters(in: .newlines))
            #expect(verified.status == 0, "\(verified.stderr)")

            setup.accounts.mode.withLock { $0 = .swapIdentity(try! AccountKeys.generate(oneTimePrekeyIDs: [])) }
            let refused = try await setup.run("alice", "send", "bob", "secret")
            #expect(refused.status == 1 && refused.stderr.hasPrefix("sealpost: key changed: the VERIFIED identity key of bob changed"))
            #expect(try await setup.queue.waitingCount(for: bob) == 0)
            let plain = try await setup.run("alice", "trust", "bob")
            #expect(plain.status == 1 && plain.stderr.contains("--i-have-verified-the-new-number"))
            let contacts = try await setup.run("alice", "contacts")
            #expect(contacts.stdout.contains("verified KEY CHANGED"))
            let explicit = try await setup.run("alice", "trust", "bob", "--i-have-verified-the-new-number")
            #expect(explicit.status == 0, "\(explicit.stderr)")
            #expect(try await setup.run("alice", "contacts").stdout.hasSuffix(" verified\n"))
        }
    }

    @Test("a bundle without a one-time prekey: the handshake still works")
    func withheldOneTimePrekeys() async throws {
        try await Self.with { setup in
            try await setup.register("alice")
            try await setup.register("bob")
            setup.accounts.mode.withLock { $0 = .withholdOneTimePrekeys }
            #expect(try await setup.run("alice", "send", "bob", "no one-time prekey").status == 0)
            let events = try await setup.receive("bob", count: 1)
            #expect(events.compactMap { $0["text"] as? String } == ["no one-time prekey"])
            #expect(try await setup.run("bob", "send", "alice", "reply").status == 0)
            #expect(try await setup.receive("alice", count: 1).compactMap { $0["text"] as? String } == ["reply"])
        }
    }

    @Test("a replayed envelope is dropped and reported once as a duplicate; reordered deliveries all decrypt")
    func replayAndReorder() async throws {
        try await Self.with { setup in
            try await setup.register("alice")
            let bob = try await setup.register("bob")
            setup.queue.replays.withLock { $0 = true }
            #expect(try await setup.run("alice", "send", "bob", "once only").status == 0)
            setup.queue.replays.withLock { $0 = false }
            #expect(try await setup.queue.waitingCount(for: bob) == 2)
            var events = try await setup.receive("bob", count: 1)
            #expect(try await eventually(timeout: .seconds(20)) {
                if try await setup.queue.waitingCount(for: bob) == 0 { return true }
                events += try await setup.receive("bob", count: 0)
                return false
            })
            #expect(events.filter { $0["event"] as? String == "message" }.compactMap { $0["text"] as? String } == ["once only"])
            #expect(events.filter { $0["event"] as? String == "duplicate" }.count == 1)

            // Three messages wait; the server hands them out newest first.
            setup.queue.reverses.withLock { $0 = true }
            for index in 1...3 { #expect(try await setup.run("alice", "send", "bob", "in order \(index)").status == 0) }
            events = try await setup.receive("bob", count: 3)
            let texts = events.filter { $0["event"] as? String == "message" }.compactMap { $0["text"] as? String }
            #expect(Set(texts) == ["in order 1", "in order 2", "in order 3"] && texts.count == 3)
            #expect(events.allSatisfy { $0["event"] as? String == "message" })
            let history = try await setup.run("bob", "history", "alice", "--json")
            #expect(history.lines.count == 4)
        }
    }

    @Test("one-time prekeys drained below 10 are topped up to 100 when the client signs in")
    func prekeysTopUp() async throws {
        try await Self.with { setup in
            try await setup.register("alice")
            let bob = try await setup.register("bob")
            #expect(try await setup.accounts.oneTimePrekeyCount(of: bob) == 100)
            // Someone drains bob's one-time prekeys by fetching bundles.
            for _ in 0..<95 { _ = try await setup.accounts.takeBundle(of: bob) }
            #expect(try await setup.accounts.oneTimePrekeyCount(of: bob) == 5)
            #expect(try await setup.run("bob", "inbox").status == 0)
            #expect(try await setup.accounts.oneTimePrekeyCount(of: bob) == 100)
            // The new ones work: alice's session begins on one of them.
            #expect(try await setup.run("alice", "send", "bob", "on a new prekey").status == 0)
            #expect(try await setup.receive("bob", count: 1).compactMap { $0["text"] as? String } == ["on a new prekey"])
        }
    }

    @Test("the signed prekey is replaced when 2 days old; a message to the replaced one still opens")
    func signedPrekeyRotation() async throws {
        try await Self.with { setup in
            try await setup.register("alice")
            let bob = try await setup.register("bob")
            #expect(try await setup.run("alice", "send", "bob", "to the first signed prekey").status == 0)
            // Bob's clock is 3 days ahead: the sign-in replaces the signed prekey, then the
            // waiting message (sealed to the replaced one) opens.
            var events: [[String: Any]] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while events.isEmpty, ContinuousClock.now < deadline {
                let result = try await SealpostBinary.run(
                    ["inbox", "--json", "--home", setup.home("bob"), "--server", "127.0.0.1:\(setup.server.port)",
                     "--server-fingerprint", setup.server.fingerprint.hex],
                    directory: setup.root, environment: ["SEALPOST_TEST_CLOCK_OFFSET_MS": "\(3 * 86_400_000)"])
                #expect(result.status == 0, "\(result.stderr)")
                events += result.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            #expect(events.compactMap { $0["text"] as? String } == ["to the first signed prekey"])
            let bundle = try #require(try await setup.accounts.takeBundle(of: bob))
            #expect(bundle.bundle.signedPrekey.id == 2)
        }
    }

    @Test("a message under a new identity for a known sender: reported as a key change, not shown; the old session's messages still open")
    func incomingIdentityChange() async throws {
        try await Self.with { setup in
            let alice = try await setup.register("alice")
            let bob = try await setup.register("bob")
            #expect(try await setup.run("bob", "send", "alice", "hi from bob").status == 0)
            #expect(try await setup.receive("alice", count: 1).compactMap { $0["text"] as? String } == ["hi from bob"])

            // The server injects a prekey message "from bob" made with an impostor's identity
            // keys against alice's bundle; then the real bob writes again on his session.
            let impostorKeys = try AccountKeys.generate(oneTimePrekeyIDs: [])
            let crypto = OpenSSLEndToEndCrypto()
            let impostor = EndToEndCipher(identity: try LocalIdentity(
                account: bob, signingSeed: impostorKeys.identitySeed, agreementPrivateKey: impostorKeys.identityAgreementPrivateKey,
                crypto: crypto), crypto: crypto)
            let bundle = try #require(try await setup.accounts.takeBundle(of: alice)).bundle
            var session = try impostor.startSession(with: bundle)
            let forged = try impostor.seal(.text("from the impostor"), session: &session)
            _ = try await setup.queue.enqueue(to: alice, from: bob, envelope: forged, storedAt: 1)
            #expect(try await setup.run("bob", "send", "alice", "genuine").status == 0)

            let events = try await setup.receive("alice", count: 1)
            #expect(events.compactMap { $0["text"] as? String } == ["genuine"])
            #expect(events.contains { $0["event"] as? String == "key-changed" && $0["from"] as? String == "bob" })
            let contacts = try await setup.run("alice", "contacts", "--json")
            #expect(contacts.stdout.contains("\"key_changed\": true"))
            // Alice sends nothing to bob until she decides.
            let refused = try await setup.run("alice", "send", "bob", "are you there?")
            #expect(refused.status == 1 && refused.stderr.hasPrefix("sealpost: key changed:"))
            #expect(try await setup.queue.waitingCount(for: bob) == 0)
        }
    }
}
