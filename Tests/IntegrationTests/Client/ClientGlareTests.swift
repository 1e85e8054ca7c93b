import Adapters
import Application
import Domain
import Testing

/// Key glare: both sides send a fresh key at once. Both must end up on one key, and
/// messages queued under the losing key must still decrypt (see `PairKeyPolicy`).
@Suite("Client: key glare")
struct ClientGlareTests {
    @Test("both send keys at once, send texts under their own keys, and still read each other", arguments: StoreKind.available)
    func glare(_ kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try ClientHarness(port: server.port)
            let bob = try ClientHarness(port: server.port)
            defer { [alice, bob].forEach { $0.remove() } }
            let a = try await alice.register("alice")
            let b = try await bob.register("bob")

            async let fromAlice = SendKey(alice.services()).run(name: "bob")
            async let fromBob = SendKey(bob.services()).run(name: "alice")
            _ = try await (fromAlice, fromBob)

            // Queued under each side's own (possibly losing) key.
            _ = try await SendText(alice.services()).run(name: "bob", text: "alice before")
            _ = try await SendText(bob.services()).run(name: "alice", text: "bob before")

            let atBob = try await bob.inbox()
            let atAlice = try await alice.inbox()
            #expect(atBob.entries.map(\.kind) == [.symmetricKey, .text])
            #expect(atBob.entries.last?.text == "alice before")
            #expect(atAlice.entries.last?.text == "bob before")
            #expect((atBob.entries + atAlice.entries).allSatisfy { $0.error == nil })

            // Both sides now use the key of the client with the smaller id.
            let aliceCurrent = try await alice.services().state.pairKeys(for: b.id).first
            let bobCurrent = try await bob.services().state.pairKeys(for: a.id).first
            #expect(aliceCurrent?.bytes == bobCurrent?.bytes)
            #expect((a.id < b.id ? aliceCurrent : bobCurrent)?.origin == .created)

            _ = try await SendText(alice.services()).run(name: "bob", text: "alice after")
            _ = try await SendText(bob.services()).run(name: "alice", text: "bob after")
            #expect(try await bob.inbox().entries.map(\.text) == ["alice after"])
            #expect(try await alice.inbox().entries.map(\.text) == ["bob after"])
        }
    }

    @Test("the policy: first key adopted, a received key kept, the smaller id wins over a created key")
    func policy() {
        let small = ClientID(high: 1, low: 0)
        let large = ClientID(high: 2, low: 0)
        let mine = PairKey(bytes: Array(repeating: 1, count: 16), origin: .created)
        let theirs = PairKey(bytes: Array(repeating: 2, count: 16), origin: .received)
        let new: [UInt8] = Array(repeating: 3, count: 16)
        #expect(PairKeyPolicy.decide(received: new, from: large, known: [], me: small) == .adopt)
        #expect(PairKeyPolicy.decide(received: new, from: large, known: [theirs], me: small) == .keepAsOlder)
        #expect(PairKeyPolicy.decide(received: new, from: large, known: [mine], me: small) == .keepAsOlder)
        #expect(PairKeyPolicy.decide(received: new, from: small, known: [mine], me: large) == .adopt)
        #expect(PairKeyPolicy.decide(received: mine.bytes, from: small, known: [mine], me: large) == .alreadyKnown)
    }
}
