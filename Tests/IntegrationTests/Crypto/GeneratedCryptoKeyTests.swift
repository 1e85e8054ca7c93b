import Adapters
import Application
import Domain
import Testing

@Suite("Crypto: freshly generated keys")
struct GeneratedCryptoKeyTests {
    let crypto = OpenSSLLegacyCrypto()

    @Test("a generated key pair has a 160-byte public key derivable from its private key")
    func generatesLegacyKey() throws {
        let pair = try crypto.generateKeyPair()
        #expect(pair.publicKey.bytes.count == 160)
        // SubjectPublicKeyInfo of RSA-1024 with e = 17 ends in INTEGER 17.
        #expect(Array(pair.publicKey.bytes.suffix(3)) == [0x02, 0x01, 0x11])
        #expect(try crypto.publicKey(for: pair.privateKey) == pair.publicKey)
        #expect(try crypto.canonicalPrivateKey(pair.privateKey) == pair.privateKey)
    }

    @Test("a new symmetric key wraps and unwraps with a generated key pair")
    func wrapRoundTrip() throws {
        let pair = try crypto.generateKeyPair()
        let key = try crypto.newSymmetricKey()
        #expect(key.count == 16)
        #expect(try crypto.newSymmetricKey() != key)
        let wrapped = try crypto.wrapKey(key, for: pair.publicKey)
        #expect(wrapped.count == 128)
        #expect(try crypto.unwrapKey(wrapped, with: pair.privateKey) == key)
    }

    @Test("a generated identity survives a me.info round trip")
    func meInfoRoundTrip() throws {
        let pair = try crypto.generateKeyPair()
        let identity = try ClientIdentity(
            name: ClientName("carol"),
            id: ClientID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210),
            privateKey: pair.privateKey
        )
        let file = identity.meInfo
        let text = String(decoding: file, as: UTF8.self)
        #expect(text.hasPrefix("carol\n0123456789ABCDEFFEDCBA9876543210\n"))
        #expect(text.split(separator: "\n")[2].count == 1336)
        let loaded = try ClientIdentity(meInfo: file)
        #expect(loaded == identity)
        #expect(loaded.meInfo == file)
        #expect(try crypto.publicKey(for: loaded.privateKey) == pair.publicKey)
    }

    @Test("texts with non-ASCII characters round-trip; an embedded NUL ends the text")
    func textRoundTrip() throws {
        let key = try crypto.newSymmetricKey()
        let text = "Grüße, 世界 🌍"
        #expect(try crypto.decryptText(crypto.encryptText(text, key: key), key: key) == text)
        #expect(try crypto.decryptText(crypto.encryptText("", key: key), key: key) == "")
        #expect(try crypto.decryptText(crypto.encryptText("before\0after", key: key), key: key) == "before")
    }

    @Test("streaming a 1 MiB file keeps each output within one block of its input")
    func boundedStreaming() throws {
        let key = try crypto.newSymmetricKey()
        let file = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let encryptor = try crypto.makeEncryptor(key: key)
        let decryptor = try crypto.makeDecryptor(key: key)
        var decrypted: [UInt8] = []
        var offset = 0
        while offset < file.count {
            let chunk = Array(file[offset..<min(offset + 65_537, file.count)])
            let encrypted = try encryptor.update(chunk)
            #expect(encrypted.count <= chunk.count + 16)
            decrypted += try decryptor.update(encrypted)
            offset += chunk.count
        }
        decrypted += try decryptor.update(encryptor.finish()) + decryptor.finish()
        #expect(decrypted == file)
    }
}
