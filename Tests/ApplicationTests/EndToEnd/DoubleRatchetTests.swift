import Foundation
@testable import Application
import Adapters
import Domain
import Testing

@Suite("X3DH and the Double Ratchet over signed envelopes")
struct DoubleRatchetTests {
    let a = E2EFixture.aliceAccount
    let b = E2EFixture.bobAccount

    @Test("In order, both ways, over several round trips; the prekey part stops after the first reply; the one-time prekey is used once")
    func inOrder() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        for round in 0..<4 {
            for i in 0..<3 {
                let envelope = try alice.send("a\(round).\(i)")
                #expect(try SealedEnvelope(bytes: envelope).kind == (round == 0 ? .prekey : .normal))
                #expect(try bob.receive(envelope, from: a) == .text("a\(round).\(i)"))
            }
            #expect(bob.prekeys.oneTime.isEmpty)
            for i in 0..<2 {
                #expect(try alice.receive(try bob.send("b\(round).\(i)"), from: b) == .text("b\(round).\(i)"))
            }
        }
    }

    @Test("Without a one-time prekey, X3DH uses DH1-DH3")
    func withoutOneTimePrekey() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers(oneTime: false)
        let envelope = try alice.send("hello")
        #expect(try SealedEnvelope(bytes: envelope).prekeyPart?.oneTimePrekeyID == nil)
        #expect(try bob.receive(envelope, from: a) == .text("hello"))
        #expect(bob.prekeys.oneTime.count == 1)
    }

    @Test("Out of order and lost messages, across ratchet steps")
    func outOfOrder() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        let first = try (0..<6).map { try alice.send("m\($0)") }
        for index in [3, 0, 5, 1] {
            #expect(try bob.receive(first[index], from: a) == .text("m\(index)"))
        }
        // 2 and 4 are late; Bob replies, Alice ratchets and sends a new chain, of which 0 is lost.
        #expect(try alice.receive(try bob.send("r"), from: b) == .text("r"))
        let second = try (0..<3).map { try alice.send("n\($0)") }
        #expect(try bob.receive(second[2], from: a) == .text("n2"))
        #expect(try bob.receive(first[4], from: a) == .text("m4"))
        #expect(try bob.receive(second[1], from: a) == .text("n1"))
        #expect(try bob.receive(first[2], from: a) == .text("m2"))
        #expect(bob.session!.ratchet.skipped.count == 1)  // n0 never arrives
    }

    @Test("A replayed or duplicated envelope is reported as a duplicate and never decrypted twice")
    func replays() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        let m0 = try alice.send("0"), m1 = try alice.send("1"), m2 = try alice.send("2")
        try bob.receive(m0, from: a)
        try bob.receive(m2, from: a)
        for replay in [m0, m2] {
            #expect(throws: EndToEndError.duplicate) { try bob.receive(replay, from: a) }
        }
        try bob.receive(m1, from: a)
        #expect(throws: EndToEndError.duplicate) { try bob.receive(m1, from: a) }
        // After a ratchet step, a message of the finished chain is still a duplicate.
        try alice.receive(try bob.send("r"), from: b)
        try bob.receive(try alice.send("3"), from: a)
        #expect(throws: EndToEndError.duplicate) { try bob.receive(m0, from: a) }
        // The first prekey message, replayed to a Bob without the session, names a one-time
        // prekey he deleted.
        var fresh = E2EPeer(fixture.bobCipher, prekeys: bob.prekeys)
        #expect(throws: EndToEndError.unknownPrekey("one-time prekey 200 (used already?)")) { try fresh.receive(m0, from: a) }
    }

    @Test("The skip limits: 1,000 in one chain, 2,000 kept in all; beyond is refused and changes nothing")
    func skipLimits() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers(oneTime: false)
        let chain1 = try (0...1001).map { try alice.send("c1.\($0)") }
        #expect(throws: EndToEndError.self) { try bob.receive(chain1[1001], from: a) }
        #expect(bob.session == nil)
        try bob.receive(chain1[1000], from: a)      // skips 0...999
        try bob.receive(chain1[1001], from: a)
        #expect(bob.session!.ratchet.skipped.count == 1000)
        try alice.receive(try bob.send("r1"), from: b)
        let chain2 = try (0..<1000).map { try alice.send("c2.\($0)") }
        try bob.receive(chain2[999], from: a)       // skips 999 more: 1,999 kept
        #expect(bob.session!.ratchet.skipped.count == 1999)
        try alice.receive(try bob.send("r2"), from: b)
        let chain3 = try (0..<3).map { try alice.send("c3.\($0)") }
        let before = bob.session
        #expect(throws: EndToEndError.tooManySkippedMessages("2001 kept, over 2000")) { try bob.receive(chain3[2], from: a) }
        #expect(bob.session == before)
        try bob.receive(chain3[1], from: a)         // 2,000 kept: allowed
        #expect(bob.session!.ratchet.skipped.count == 2000)
        #expect(try bob.receive(chain1[5], from: a) == .text("c1.5"))
        // A skipped key expires after 30 days.
        bob.now += DoubleRatchet.skippedKeyLifetime
        #expect(throws: EndToEndError.self) { try bob.receive(chain1[6], from: a) }
        #expect(throws: EndToEndError.self) { try bob.receive(chain3[0], from: a) }
    }

    @Test("Forward secrecy: the state captured after a message cannot decrypt it")
    func forwardSecrecy() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        let m0 = try alice.send("secret 0")
        try bob.receive(m0, from: a)
        try alice.receive(try bob.send("r"), from: b)
        let m1 = try alice.send("secret 1")
        try bob.receive(m1, from: a)
        let captured = bob.session!
        for message in [m0, m1] {
            #expect(throws: EndToEndError.self) {
                try fixture.bobCipher.open(message, authenticatedSender: a, session: captured, prekeys: fixture.bobPrekeys, now: bob.now)
            }
        }
        // Nor does the captured state hold any of the message's keys.
        #expect(captured.ratchet.skipped.isEmpty)
    }

    @Test("Healing: a state captured at t cannot decrypt messages once a round trip brings fresh ratchet keys")
    func healing() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        try bob.receive(try alice.send("0"), from: a)
        try alice.receive(try bob.send("1"), from: b)
        // Eve copies Bob's whole state; her own ratchet steps use her own randomness.
        var eve = E2EPeer(EndToEndCipher(identity: fixture.bob, crypto: OpenSSLEndToEndCrypto()), session: bob.session, prekeys: bob.prekeys)
        // Before healing, the next message (on Bob's ratchet key that Eve holds) is readable.
        let exposed = try alice.send("2")
        #expect(try eve.receive(exposed, from: a) == .text("2"))
        try bob.receive(exposed, from: a)
        // Bob's reply carries a ratchet key made after t; Alice's answer to it is sealed to it.
        try alice.receive(try bob.send("3"), from: b)
        let healed = try alice.send("4")
        #expect(throws: EndToEndError.self) { try eve.receive(healed, from: a) }
        #expect(try bob.receive(healed, from: a) == .text("4"))
    }

    @Test("A flipped bit anywhere in an envelope is rejected, and leaves the session as it was")
    func bitFlips() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        let prekeyMessage = try alice.send("hi")
        try bob.receive(prekeyMessage, from: a)
        try alice.receive(try bob.send("yo"), from: b)
        let normal = try alice.send("ok")
        let before = bob.session
        for bit in 0..<normal.count * 8 {
            var damaged = normal
            damaged[bit / 8] ^= 1 << (bit % 8)
            #expect(throws: EndToEndError.self, "bit \(bit)") { try bob.receive(damaged, from: a) }
            #expect(bob.session == before)
        }
        #expect(try bob.receive(normal, from: a) == .text("ok"))
        // A prekey message too, to a Bob without a session.
        var (alice2, _) = try fixture.peers()
        let first = try alice2.send("hi")
        for bit in 0..<first.count * 8 {
            var damaged = first
            damaged[bit / 8] ^= 1 << (bit % 8)
            #expect(throws: EndToEndError.self, "bit \(bit)") {
                try fixture.bobCipher.open(damaged, authenticatedSender: a, session: nil, prekeys: fixture.bobPrekeys, now: 0)
            }
        }
    }

    @Test("Misaddressed envelopes, a sender other than the authenticated one, and a changed identity are refused")
    func addressing() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        let envelope = try alice.send("x")
        #expect(throws: EndToEndError.self) { try bob.receive(envelope, from: b) }
        #expect(throws: EndToEndError.self) {
            try fixture.aliceCipher.open(envelope, authenticatedSender: a, session: nil, prekeys: PrekeyPrivateKeys(), now: 0)
        }
        let stranger = try LocalIdentity(account: a, signingSeed: E2EFixture.bytes(0x40), agreementPrivateKey: E2EFixture.bytes(0x50), crypto: fixture.aliceCrypto)
        #expect(throws: EndToEndError.identityChanged(a)) {
            try fixture.bobCipher.open(envelope, authenticatedSender: a, session: nil, prekeys: fixture.bobPrekeys,
                                       knownIdentity: stranger.publicKeys, now: 0)
        }
        // A bundle whose signed prekey is not signed by its identity key is refused.
        let good = try fixture.bobBundle()
        let forged = PrekeyBundle(account: good.account, identity: good.identity,
                                  signedPrekey: Prekey(id: good.signedPrekey.id, publicKey: good.oneTimePrekey!.publicKey, signature: good.signedPrekey.signature),
                                  oneTimePrekey: nil)
        #expect(throws: EndToEndError.invalidPrekeySignature("the signed prekey 9")) { try fixture.aliceCipher.startSession(with: forged) }
    }

    @Test("Sessions, states and identities print no key bytes")
    func redaction() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        try bob.receive(try alice.send("a"), from: a)
        let session = bob.session!
        for text in ["\(session)", String(reflecting: session), "\(session.ratchet)", "\(fixture.bob)", "\(fixture.bobPrekeys)"] {
            for secret in [session.ratchet.rootKey, session.ratchet.sendingPrivateKey, fixture.bob.signingSeed, fixture.bobSignedPrekey] {
                #expect(!text.contains(HexBytes.encode(secret)) && !text.contains("\(secret)"))
            }
        }
    }

    @Test("The session is Codable and survives a round trip through JSON")
    func persistence() throws {
        let fixture = try E2EFixture()
        var (alice, bob) = try fixture.peers()
        try bob.receive(try alice.send("a"), from: a)
        let data = try JSONEncoder().encode(bob.session!)
        bob.session = try JSONDecoder().decode(EndToEndSession.self, from: data)
        #expect(try bob.receive(try alice.send("b"), from: a) == .text("b"))
    }
}
