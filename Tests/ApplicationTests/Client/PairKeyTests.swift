import Adapters
@testable import Application
import Domain
import Testing

@Suite("Client: PairKeyPolicy")
struct PairKeyPolicyTests {
    static let small = ClientID(high: 1, low: 0)
    static let large = ClientID(high: 2, low: 0)
    static let created = PairKey(bytes: Array(repeating: 1, count: 16), origin: .created)
    static let received = PairKey(bytes: Array(repeating: 2, count: 16), origin: .received)
    static let new: [UInt8] = Array(repeating: 3, count: 16)

    @Test("with no key yet, the received key becomes current")
    func first() {
        #expect(PairKeyPolicy.decide(received: Self.new, from: Self.large, known: [], me: Self.small) == .adopt)
    }

    @Test("a key already known, current or older, changes nothing")
    func known() {
        #expect(PairKeyPolicy.decide(received: Self.received.bytes, from: Self.large, known: [Self.received], me: Self.small) == .alreadyKnown)
        #expect(PairKeyPolicy.decide(received: Self.received.bytes, from: Self.small, known: [Self.created, Self.received], me: Self.large) == .alreadyKnown)
    }

    @Test("over a received current key the original's rule holds: keep it, whatever the ids", arguments: [true, false])
    func receivedKept(senderSmaller: Bool) {
        let (sender, me) = senderSmaller ? (Self.small, Self.large) : (Self.large, Self.small)
        #expect(PairKeyPolicy.decide(received: Self.new, from: sender, known: [Self.received], me: me) == .keepAsOlder)
    }

    @Test("over a key created here (glare) the smaller id wins, the same on both sides")
    func glare() {
        #expect(PairKeyPolicy.decide(received: Self.new, from: Self.small, known: [Self.created], me: Self.large) == .adopt)
        #expect(PairKeyPolicy.decide(received: Self.new, from: Self.large, known: [Self.created], me: Self.small) == .keepAsOlder)
    }

    @Test("only the current key's origin counts, not older keys'")
    func currentDecides() {
        #expect(PairKeyPolicy.decide(received: Self.new, from: Self.small, known: [Self.received, Self.created], me: Self.large) == .keepAsOlder)
        #expect(PairKeyPolicy.decide(received: Self.new, from: Self.small, known: [Self.created, Self.received], me: Self.large) == .adopt)
    }
}

@Suite("Client: PairKeyDecryption")
struct PairKeyDecryptionTests {
    static let crypto = OpenSSLLegacyCrypto()
    static func key(_ fill: UInt8) -> PairKey { PairKey(bytes: Array(repeating: fill, count: 16), origin: .received) }

    @Test("the current key opens a text; so does an older one behind a wrong current key")
    func triesEveryKey() throws {
        let ciphertext = try Self.crypto.encryptText("queued", key: Self.key(2).bytes)
        #expect(try PairKeyDecryption.text(ciphertext, keys: [Self.key(2)], crypto: Self.crypto) == "queued")
        #expect(try PairKeyDecryption.text(ciphertext, keys: [Self.key(1), Self.key(2)], crypto: Self.crypto) == "queued")
    }

    @Test("a text without the original's NUL still reads, after any key that gives one")
    func nulPreferred() throws {
        // Encrypted raw, without the trailing NUL the original appends.
        let encryptor = try Self.crypto.makeEncryptor(key: Self.key(5).bytes)
        let bare = try encryptor.update(Array("bare".utf8)) + encryptor.finish()
        #expect(try PairKeyDecryption.text(bare, keys: [Self.key(5)], crypto: Self.crypto) == "bare")
        // The text ends at the first NUL.
        let padded = try Self.crypto.makeEncryptor(key: Self.key(5).bytes)
        let withNul = try padded.update(Array("cut".utf8) + [0] + Array("rest".utf8)) + padded.finish()
        #expect(try PairKeyDecryption.text(withNul, keys: [Self.key(5)], crypto: Self.crypto) == "cut")
    }

    @Test("when no key opens it, the error says how many keys were tried")
    func noKeyOpens() throws {
        let ciphertext = try Self.crypto.encryptText("secret", key: Self.key(9).bytes)
        #expect(throws: ClientError.self) { try PairKeyDecryption.text(ciphertext, keys: [Self.key(1)], crypto: Self.crypto) }
        do throws(ClientError) {
            _ = try PairKeyDecryption.text(ciphertext, keys: [Self.key(1), Self.key(3)], crypto: Self.crypto)
            Issue.record("decrypted with the wrong keys")
        } catch {
            guard case .unreadableMessage(let why) = error else { Issue.record("\(error)"); return }
            #expect(why.hasPrefix("the text does not decrypt with any of the 2 known pair keys"))
        }
        do throws(ClientError) {
            _ = try PairKeyDecryption.text(Array(repeating: 0, count: 5), keys: [Self.key(1)], crypto: Self.crypto)
            Issue.record("decrypted a truncated ciphertext")
        } catch {
            guard case .unreadableMessage(let why) = error else { Issue.record("\(error)"); return }
            #expect(why.hasPrefix("the text does not decrypt with the pair key"))
        }
    }

    @Test("plaintext that is not UTF-8 is unreadable")
    func notUTF8() throws {
        let encryptor = try Self.crypto.makeEncryptor(key: Self.key(6).bytes)
        let ciphertext = try encryptor.update([0xff, 0xfe, 0x00]) + encryptor.finish()
        #expect(throws: ClientError.self) { try PairKeyDecryption.text(ciphertext, keys: [Self.key(6)], crypto: Self.crypto) }
    }
}
