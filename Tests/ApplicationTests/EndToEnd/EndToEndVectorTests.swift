@testable import Application
import Adapters
import Domain
import Foundation
import Testing

/// Checks the code against Tests/Fixtures/vectors/e2e_vectors.json (docs/protocol-v3.md §11).
/// `SEALPOST_WRITE_E2E_VECTORS=1` rewrites the file from the code instead (then review the diff).
@Suite("End-to-end known-answer vectors")
struct EndToEndVectorTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/vectors/e2e_vectors.json")

    static func hex(_ bytes: [UInt8]) -> String { HexBytes.encode(bytes) }

    /// Every vector, computed from the fixed keys and the fixed randomness.
    static func compute() throws -> [String: [String: String]] {
        let fixture = try E2EFixture()
        let crypto = OpenSSLEndToEndCrypto()
        var out: [String: [String: String]] = [:]
        out["keys"] = [
            "randomness": "the n-th 32 random bytes (n from 0) of a side are SHA-256(32 × seed ‖ u64 n); alice's seed is 0xA1, bob's 0xB0",
            "alice_account": hex(E2EFixture.aliceAccount.bytes), "bob_account": hex(E2EFixture.bobAccount.bytes),
            "alice_ed25519_seed": hex(fixture.alice.signingSeed), "alice_x25519_identity_private": hex(fixture.alice.agreementPrivateKey),
            "alice_identity_signing_key": hex(fixture.alice.publicKeys.signingKey.bytes),
            "alice_identity_dh_key": hex(fixture.alice.publicKeys.agreementKey.bytes),
            "bob_ed25519_seed": hex(fixture.bob.signingSeed), "bob_x25519_identity_private": hex(fixture.bob.agreementPrivateKey),
            "bob_identity_signing_key": hex(fixture.bob.publicKeys.signingKey.bytes),
            "bob_identity_dh_key": hex(fixture.bob.publicKeys.agreementKey.bytes),
            "bob_signed_prekey_id": "\(E2EFixture.bobSignedPrekeyID)", "bob_signed_prekey_private": hex(fixture.bobSignedPrekey),
            "bob_one_time_prekey_id": "\(E2EFixture.bobOneTimePrekeyID)", "bob_one_time_prekey_private": hex(fixture.bobOneTimePrekey),
        ]
        // X3DH with the ephemeral key alice's randomness gives first.
        let ephemeral = try FixedRandomCrypto(seed: 0xA1).randomBytes(32)
        let initiation = try X3DH(crypto: crypto).initiate(from: fixture.alice, to: try fixture.bobBundle(), ephemeralPrivateKey: ephemeral)
        out["x3dh"] = ["ephemeral_private": hex(ephemeral), "ephemeral_public": hex(initiation.prekeyPart.ephemeralKey.bytes),
                       "sk": hex(initiation.sharedSecret), "ad": hex(initiation.associatedData)]
        // A conversation: alice's prekey message, bob's reply, alice's next message.
        var (alice, bob) = try fixture.peers()
        let m1 = try alice.send("Hello, Bob")
        _ = try bob.receive(m1, from: E2EFixture.aliceAccount)
        let m2 = try bob.send("Hello, Alice")
        _ = try alice.receive(m2, from: E2EFixture.bobAccount)
        let m3 = try alice.send("How are you?")
        out["envelopes"] = ["1_alice_prekey_message_text": "Hello, Bob", "1_alice_prekey_message": hex(m1),
                            "2_bob_reply_text": "Hello, Alice", "2_bob_reply": hex(m2),
                            "3_alice_message_text": "How are you?", "3_alice_message": hex(m3)]
        // STREAM: 65,546 bytes (byte i = i mod 251) under the key 0x33, 0x34, …: two chunks.
        let key = E2EFixture.bytes(0x33)
        let plaintext = (0..<65_546).map { UInt8($0 % 251) }
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        let sealed = try encryptor.update(plaintext) + encryptor.finish()
        let small = try AttachmentEncryptor(key: key, crypto: crypto)
        out["stream"] = ["key": hex(key), "plaintext": "65546 bytes, byte i = i mod 251",
                         "ciphertext_sha256": hex(try crypto.sha256(sealed)),
                         "chunk0_tag": hex(Array(sealed[65_536..<65_552])), "chunk1_last": hex(Array(sealed[65_552...])),
                         "hello_plaintext": "hello", "hello_ciphertext": hex(try small.update(Array("hello".utf8)) + small.finish())]
        out["safety_number"] = ["alice_half": try SafetyNumber.half(key: fixture.alice.publicKeys.signingKey, account: E2EFixture.aliceAccount, crypto: crypto),
                                "bob_half": try SafetyNumber.half(key: fixture.bob.publicKeys.signingKey, account: E2EFixture.bobAccount, crypto: crypto),
                                "safety_number": try SafetyNumber.compute(local: (fixture.alice.publicKeys.signingKey, E2EFixture.aliceAccount),
                                                                          remote: (fixture.bob.publicKeys.signingKey, E2EFixture.bobAccount), crypto: crypto)]
        return out
    }

    @Test("The code gives the committed vectors, and Bob opens the committed envelopes")
    func vectors() throws {
        let computed = try Self.compute()
        if ProcessInfo.processInfo.environment["SEALPOST_WRITE_E2E_VECTORS"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try (try encoder.encode(computed) + Data("\n".utf8)).write(to: Self.file)
        }
        let committed = try JSONDecoder().decode([String: [String: String]].self, from: Data(contentsOf: Self.file))
        #expect(committed == computed)
        // The committed bytes, not only the recomputed ones, open.
        let fixture = try E2EFixture()
        var bob = E2EPeer(fixture.bobCipher, prekeys: fixture.bobPrekeys)
        let firstHex = try #require(committed["envelopes"]?["1_alice_prekey_message"])
        let first = try #require(HexBytes.decode(firstHex))
        #expect(try bob.receive(first, from: E2EFixture.aliceAccount) == .text("Hello, Bob"))
    }

    @Test("Safety numbers: 60 digits, the same on both sides, changed by a key or an account")
    func safetyNumbers() throws {
        let fixture = try E2EFixture()
        let crypto = OpenSSLEndToEndCrypto()
        let alice = (fixture.alice.publicKeys.signingKey, E2EFixture.aliceAccount)
        let bob = (fixture.bob.publicKeys.signingKey, E2EFixture.bobAccount)
        let number = try SafetyNumber.compute(local: alice, remote: bob, crypto: crypto)
        #expect(number.count == 60 && number.allSatisfy(\.isNumber))
        #expect(try SafetyNumber.compute(local: bob, remote: alice, crypto: crypto) == number)
        let other = try crypto.signingPublicKey(seed: E2EFixture.bytes(0x77))
        #expect(try SafetyNumber.compute(local: alice, remote: (other, E2EFixture.bobAccount), crypto: crypto) != number)
        #expect(try SafetyNumber.compute(local: alice, remote: (bob.0, AccountID(bytes: [UInt8](repeating: 0x23, count: 16))!), crypto: crypto) != number)
    }
}
