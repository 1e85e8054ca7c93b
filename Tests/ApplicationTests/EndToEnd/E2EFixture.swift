import Adapters
@testable import Application
import Domain
import Synchronization

/// The real OpenSSL primitives with fixed randomness: `randomBytes` gives SHA-256(seed ‖ u64
/// counter) blocks, so ephemeral and ratchet keys are reproducible (for the known-answer
/// vectors); everything else is OpenSSL's.
final class FixedRandomCrypto: EndToEndCrypto {
    private let real = OpenSSLEndToEndCrypto()
    private let seed: [UInt8]
    private let counter = Mutex<UInt64>(0)

    init(seed: UInt8) {
        self.seed = [UInt8](repeating: seed, count: 32)
    }

    func randomBytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            let n = counter.withLock { value in
                defer { value += 1 }
                return value
            }
            out += try real.sha256(seed + (0..<8).map { UInt8(truncatingIfNeeded: n >> (56 - 8 * UInt64($0))) })
        }
        return Array(out.prefix(count))
    }

    func agreementPublicKey(privateKey: [UInt8]) throws(CryptoError) -> AgreementPublicKey { try real.agreementPublicKey(privateKey: privateKey) }
    func sharedSecret(privateKey: [UInt8], peer: AgreementPublicKey) throws(CryptoError) -> [UInt8] { try real.sharedSecret(privateKey: privateKey, peer: peer) }
    func signingPublicKey(seed: [UInt8]) throws(CryptoError) -> SigningPublicKey { try real.signingPublicKey(seed: seed) }
    func sign(_ message: [UInt8], seed: [UInt8]) throws(CryptoError) -> Signature { try real.sign(message, seed: seed) }
    func isValid(_ signature: Signature, of message: [UInt8], by key: SigningPublicKey) -> Bool { real.isValid(signature, of: message, by: key) }
    func hkdfSHA256(inputKey: [UInt8], salt: [UInt8], info: [UInt8], outputCount: Int) throws(CryptoError) -> [UInt8] {
        try real.hkdfSHA256(inputKey: inputKey, salt: salt, info: info, outputCount: outputCount)
    }
    func hmacSHA256(key: [UInt8], message: [UInt8]) throws(CryptoError) -> [UInt8] { try real.hmacSHA256(key: key, message: message) }
    func sha256(_ data: [UInt8]) throws(CryptoError) -> [UInt8] { try real.sha256(data) }
    func sha512(_ data: [UInt8]) throws(CryptoError) -> [UInt8] { try real.sha512(data) }
    func sealAESGCM(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        try real.sealAESGCM(key: key, nonce: nonce, plaintext: plaintext, associatedData: associatedData)
    }
    func openAESGCM(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        try real.openAESGCM(key: key, nonce: nonce, ciphertext: ciphertext, associatedData: associatedData)
    }
    func makeChunkCipher(key: [UInt8]) throws(CryptoError) -> any AEADChunkCipher { try real.makeChunkCipher(key: key) }
    func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool { real.constantTimeEqual(a, b) }
}

/// Alice and Bob with the fixed test keys of docs/protocol-v3.md §11 (Bob's are listed in
/// Tests/Fixtures/vectors/e2e_vectors.json).
struct E2EFixture {
    static func bytes(_ start: UInt8) -> [UInt8] { (0..<32).map { start &+ UInt8($0) } }

    static let aliceAccount = AccountID(bytes: [UInt8](repeating: 0x11, count: 16))!
    static let bobAccount = AccountID(bytes: [UInt8](repeating: 0x22, count: 16))!
    // Bob's keys: Ed25519 seed 0xA0…, X25519 identity 0xC0…, signed prekey 9 = 0xE0…, one-time prekey 200 = 0x01….
    static let bobSignedPrekeyID: UInt32 = 9
    static let bobOneTimePrekeyID: UInt32 = 200

    let alice: LocalIdentity
    let bob: LocalIdentity
    let bobSignedPrekey: [UInt8] = bytes(0xE0)
    let bobOneTimePrekey: [UInt8] = bytes(0x01)
    let aliceCrypto: FixedRandomCrypto
    let bobCrypto: FixedRandomCrypto

    init() throws {
        aliceCrypto = FixedRandomCrypto(seed: 0xA1)
        bobCrypto = FixedRandomCrypto(seed: 0xB0)
        alice = try LocalIdentity(account: Self.aliceAccount, signingSeed: Self.bytes(0x00), agreementPrivateKey: Self.bytes(0x20), crypto: aliceCrypto)
        bob = try LocalIdentity(account: Self.bobAccount, signingSeed: Self.bytes(0xA0), agreementPrivateKey: Self.bytes(0xC0), crypto: bobCrypto)
    }

    var aliceCipher: EndToEndCipher { EndToEndCipher(identity: alice, crypto: aliceCrypto) }
    var bobCipher: EndToEndCipher { EndToEndCipher(identity: bob, crypto: bobCrypto) }

    func prekey(_ id: UInt32, _ privateKey: [UInt8], signed: Bool) throws -> Prekey {
        let key = try bobCrypto.agreementPublicKey(privateKey: privateKey)
        let signature = try bobCrypto.sign(SignedStatement.prekey(id: id, key: key, signed: signed), seed: bob.signingSeed)
        return Prekey(id: id, publicKey: key, signature: signature)
    }

    func bobBundle(oneTime: Bool = true) throws -> PrekeyBundle {
        PrekeyBundle(account: Self.bobAccount, identity: bob.publicKeys,
                     signedPrekey: try prekey(Self.bobSignedPrekeyID, bobSignedPrekey, signed: true),
                     oneTimePrekey: oneTime ? try prekey(Self.bobOneTimePrekeyID, bobOneTimePrekey, signed: false) : nil)
    }

    var bobPrekeys: PrekeyPrivateKeys {
        PrekeyPrivateKeys(signed: [Self.bobSignedPrekeyID: bobSignedPrekey], oneTime: [Self.bobOneTimePrekeyID: bobOneTimePrekey])
    }
}
