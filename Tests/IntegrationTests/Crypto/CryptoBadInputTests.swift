import Adapters
import Application
import Domain
import Testing

@Suite("Crypto: bad input gives clear errors")
struct CryptoBadInputTests {
    let crypto = OpenSSLLegacyCrypto()

    @Test("a key message opened with another private key fails as keyUnwrapFailed")
    func unwrapWithWrongKey() throws {
        let vectors = try LegacyVectors.load()
        let other = try crypto.generateKeyPair()
        let error = #expect(throws: CryptoError.self) {
            try crypto.unwrapKey(vectors.bytes("oaep_ciphertext_of_aes_key"), with: other.privateKey)
        }
        guard case .keyUnwrapFailed = error else {
            Issue.record("expected keyUnwrapFailed, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("could not open the key message") == true)
    }

    @Test("a truncated key message fails as keyUnwrapFailed")
    func unwrapTruncated() throws {
        let vectors = try LegacyVectors.load()
        let privateKey = try PrivateKey(der: vectors.bytes("rsa_private_key_der"))
        let ciphertext = try vectors.bytes("oaep_ciphertext_of_aes_key")
        for broken in [Array(ciphertext.dropLast()), [], [UInt8](repeating: 0xff, count: 128)] {
            let error = #expect(throws: CryptoError.self) { try crypto.unwrapKey(broken, with: privateKey) }
            guard case .keyUnwrapFailed = error else {
                Issue.record("expected keyUnwrapFailed, got \(String(describing: error))")
                continue
            }
        }
    }

    @Test("keys that are not RSA keys are refused as invalidKey")
    func garbageKeys() throws {
        let notPKCS8 = try PrivateKey(der: [0x30, 0x03, 0x02, 0x01, 0x00])
        let garbage = try PublicKey(bytes: [UInt8](repeating: 0x42, count: 160))
        let errors = [
            #expect(throws: CryptoError.self) { try crypto.publicKey(for: notPKCS8) },
            #expect(throws: CryptoError.self) { try crypto.unwrapKey([UInt8](repeating: 1, count: 128), with: notPKCS8) },
            #expect(throws: CryptoError.self) { try crypto.wrapKey([1, 2, 3], for: garbage) },
        ]
        for error in errors {
            guard case .invalidKey = error else {
                Issue.record("expected invalidKey, got \(String(describing: error))")
                continue
            }
        }
    }

    @Test("text under the wrong key fails as decryptionFailed")
    func wrongSymmetricKey() throws {
        let vectors = try LegacyVectors.load()
        var key = try vectors.bytes("aes_key")
        key[0] ^= 0x80
        let error = #expect(throws: CryptoError.self) {
            try crypto.decryptText(vectors.bytes("text_5000_ciphertext"), key: key)
        }
        guard case .decryptionFailed(let why) = error else {
            Issue.record("expected decryptionFailed, got \(String(describing: error))")
            return
        }
        #expect(why.contains("padding"))
    }

    @Test("truncated and empty ciphertexts say so")
    func truncated() throws {
        let vectors = try LegacyVectors.load()
        let key = try vectors.bytes("aes_key")
        let ciphertext = try vectors.bytes("file_4096_ciphertext")
        let decryptor = try crypto.makeDecryptor(key: key)
        let error = #expect(throws: CryptoError.self) {
            try stream(Array(ciphertext.dropLast(5)), through: decryptor, chunkSize: 1000)
        }
        guard case .decryptionFailed(let why) = error else {
            Issue.record("expected decryptionFailed, got \(String(describing: error))")
            return
        }
        #expect(why.contains("truncated"))

        let empty = #expect(throws: CryptoError.self) { try crypto.decryptText([], key: key) }
        #expect(empty?.description.contains("no ciphertext") == true)
    }

    @Test("bad padding is reported as such")
    func badPadding() throws {
        let vectors = try LegacyVectors.load()
        let key = try vectors.bytes("aes_key")
        // 33 bytes of plaintext: the last block ends in 15 bytes of 0x0f. Flipping the last
        // bit of the block before it turns the final pad byte into 0x0e: invalid padding.
        var ciphertext = try vectors.bytes("file_seed_test_ciphertext")
        ciphertext[31] ^= 0x01
        let error = #expect(throws: CryptoError.self) {
            try stream(ciphertext, through: crypto.makeDecryptor(key: key), chunkSize: 7)
        }
        guard case .decryptionFailed(let why) = error else {
            Issue.record("expected decryptionFailed, got \(String(describing: error))")
            return
        }
        #expect(why.contains("padding is wrong"))
    }

    @Test("decrypted bytes that are not UTF-8 fail as invalidText")
    func invalidUTF8() throws {
        let key = try crypto.newSymmetricKey()
        let encryptor = try crypto.makeEncryptor(key: key)
        let ciphertext = try encryptor.update([0x41, 0xff, 0xfe, 0x00]) + encryptor.finish()
        let error = #expect(throws: CryptoError.self) { try crypto.decryptText(ciphertext, key: key) }
        guard case .invalidText = error else {
            Issue.record("expected invalidText, got \(String(describing: error))")
            return
        }
    }

    @Test("a symmetric key of the wrong size and a finished stream are refused")
    func misuse() throws {
        #expect(throws: CryptoError.invalidSymmetricKeySize(expected: 16, actual: 15)) {
            try crypto.encryptText("x", key: [UInt8](repeating: 0, count: 15))
        }
        #expect(throws: CryptoError.invalidSymmetricKeySize(expected: 16, actual: 32)) {
            try crypto.makeDecryptor(key: [UInt8](repeating: 0, count: 32))
        }
        let encryptor = try crypto.makeEncryptor(key: crypto.newSymmetricKey())
        _ = try encryptor.finish()
        #expect(throws: CryptoError.streamFinished) { try encryptor.update([1]) }
        #expect(throws: CryptoError.streamFinished) { try encryptor.finish() }
    }
}
