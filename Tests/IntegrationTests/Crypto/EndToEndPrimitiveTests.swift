import Adapters
import Application
import Domain
import Testing

/// The end-to-end primitives on OpenSSL against published known answers.
@Suite("End-to-end primitives (known answers)")
struct EndToEndPrimitiveTests {
    let crypto = OpenSSLEndToEndCrypto()

    static func hex(_ text: String) -> [UInt8] { HexBytes.decode(text)! }

    @Test("HKDF-SHA256: RFC 5869 test case 1")
    func hkdf() throws {
        let okm = try crypto.hkdfSHA256(inputKey: [UInt8](repeating: 0x0b, count: 22), salt: Self.hex("000102030405060708090a0b0c"),
                                        info: Self.hex("f0f1f2f3f4f5f6f7f8f9"), outputCount: 42)
        #expect(HexBytes.encode(okm) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    @Test("HMAC-SHA256: RFC 4231 test cases 1 and 2")
    func hmac() throws {
        #expect(HexBytes.encode(try crypto.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)))
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(HexBytes.encode(try crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("SHA-256 and SHA-512 of \"abc\" (FIPS 180-2)")
    func digests() throws {
        #expect(HexBytes.encode(try crypto.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(HexBytes.encode(try crypto.sha512(Array("abc".utf8)))
            == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    }

    @Test("AES-256-GCM: the GCM specification's test cases 13, 14 and 16 (NIST's vectors), and a damaged tag refused")
    func gcm() throws {
        let zero = [UInt8](repeating: 0, count: 32), iv = [UInt8](repeating: 0, count: 12)
        #expect(HexBytes.encode(try crypto.sealAESGCM(key: zero, nonce: iv, plaintext: [], associatedData: [])) == "530f8afbc74536b9a963b4f1c4cb738b")
        #expect(HexBytes.encode(try crypto.sealAESGCM(key: zero, nonce: iv, plaintext: [UInt8](repeating: 0, count: 16), associatedData: []))
            == "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")
        let key = Self.hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let plaintext = Self.hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let ad = Self.hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let nonce = Self.hex("cafebabefacedbaddecaf888")
        let sealed = try crypto.sealAESGCM(key: key, nonce: nonce, plaintext: plaintext, associatedData: ad)
        #expect(HexBytes.encode(sealed) == "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
            + "76fc6ece0f4e1768cddf8853bb2d551b")
        #expect(try crypto.openAESGCM(key: key, nonce: nonce, ciphertext: sealed, associatedData: ad) == plaintext)
        var damaged = sealed
        damaged[damaged.count - 1] ^= 1
        #expect(throws: CryptoError.self) { try crypto.openAESGCM(key: key, nonce: nonce, ciphertext: damaged, associatedData: ad) }
        #expect(throws: CryptoError.self) { try crypto.openAESGCM(key: key, nonce: nonce, ciphertext: sealed, associatedData: ad + [0]) }
        #expect(throws: CryptoError.self) { try crypto.openAESGCM(key: key, nonce: nonce, ciphertext: Array(sealed.prefix(15)), associatedData: ad) }
    }

    @Test("Constant-time comparison")
    func compare() {
        #expect(crypto.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!crypto.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!crypto.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(crypto.constantTimeEqual([], []))
    }
}
