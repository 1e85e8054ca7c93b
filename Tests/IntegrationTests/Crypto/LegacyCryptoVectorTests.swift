import Adapters
import Application
import Domain
import Testing

/// One AES vector of `legacy_crypto.json`: a plaintext field and its ciphertext field.
struct AESVector: Sendable, CustomTestStringConvertible {
    let name: String
    let plaintextField: String
    let ciphertextField: String
    /// Whether the plaintext is a text message (UTF-8 plus a trailing NUL).
    let isText: Bool

    var testDescription: String { name }

    static let all: [AESVector] = [
        AESVector(name: "short text with NUL", plaintextField: "text_plaintext", ciphertextField: "text_ciphertext", isText: true),
        AESVector(name: "5000-digit text", plaintextField: "text_5000_plaintext", ciphertextField: "text_5000_ciphertext", isText: true),
        AESVector(name: "raw 5000 bytes", plaintextField: "raw_5000_plaintext", ciphertextField: "raw_5000_ciphertext", isText: false),
        AESVector(name: "300-byte file", plaintextField: "file_plaintext", ciphertextField: "file_ciphertext", isText: false),
        AESVector(name: "4096-byte file", plaintextField: "file_4096_plaintext", ciphertextField: "file_4096_ciphertext", isText: false),
        AESVector(name: "seed test file", plaintextField: "file_seed_test_plaintext", ciphertextField: "file_seed_test_ciphertext", isText: false),
        AESVector(name: "empty file", plaintextField: "file_empty_plaintext", ciphertextField: "file_empty_ciphertext", isText: false),
    ]
}

/// Feeds `input` through `cipher` in chunks of `chunkSize` bytes.
func stream(_ input: [UInt8], through cipher: any StreamCipher, chunkSize: Int) throws -> [UInt8] {
    var output: [UInt8] = []
    var offset = 0
    while offset < input.count {
        let end = min(offset + chunkSize, input.count)
        output += try cipher.update(Array(input[offset..<end]))
        offset = end
    }
    return output + (try cipher.finish())
}

@Suite("Crypto: legacy_crypto.json vectors (Crypto++ 8.7)")
struct LegacyCryptoVectorTests {
    let crypto = OpenSSLLegacyCrypto()

    @Test("the public key derived from the private DER is the vector's 160-byte DER")
    func derivesPublicKey() throws {
        let vectors = try LegacyVectors.load()
        let privateKey = try PrivateKey(der: vectors.bytes("rsa_private_key_der"))
        let publicKey = try crypto.publicKey(for: privateKey)
        #expect(publicKey.bytes == (try vectors.bytes("rsa_public_key_der")))
        #expect(publicKey.bytes.count == 160)
    }

    @Test("re-encoding the private key gives the same PKCS#8 DER")
    func reencodesPrivateKey() throws {
        let vectors = try LegacyVectors.load()
        let der = try vectors.bytes("rsa_private_key_der")
        #expect(der.count == 632)
        #expect(try crypto.canonicalPrivateKey(PrivateKey(der: der)).der == der)
    }

    @Test("OAEP unwrap of the vector's key message gives the AES key")
    func unwrapsVectorKey() throws {
        let vectors = try LegacyVectors.load()
        let privateKey = try PrivateKey(der: vectors.bytes("rsa_private_key_der"))
        let unwrapped = try crypto.unwrapKey(vectors.bytes("oaep_ciphertext_of_aes_key"), with: privateKey)
        #expect(unwrapped == (try vectors.bytes("aes_key")))
    }

    @Test("our OAEP wrap to the vector's public key unwraps with its private key")
    func wrapRoundTrips() throws {
        let vectors = try LegacyVectors.load()
        let publicKey = try PublicKey(bytes: vectors.bytes("rsa_public_key_der"))
        let privateKey = try PrivateKey(der: vectors.bytes("rsa_private_key_der"))
        let aesKey = try vectors.bytes("aes_key")
        let wrapped = try crypto.wrapKey(aesKey, for: publicKey)
        #expect(wrapped.count == 128)
        #expect(wrapped != (try vectors.bytes("oaep_ciphertext_of_aes_key")), "OAEP is randomized")
        #expect(try crypto.unwrapKey(wrapped, with: privateKey) == aesKey)
    }

    @Test("our me.info writer produces the vector's base64 key line")
    func meInfoKeyLine() throws {
        let vectors = try LegacyVectors.load()
        let privateKey = try PrivateKey(der: vectors.bytes("rsa_private_key_der"))
        let identity = try ClientIdentity(name: ClientName("vector"), id: .zero, privateKey: privateKey)
        let lines = identity.meInfoText.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(String(lines[2]) == (try vectors.string("me_info_private_key_base64")))
        #expect(lines[2].count == 1336)
    }

    @Test("one-shot AES-128-CBC equals the vector both ways", arguments: AESVector.all)
    func oneShot(_ vector: AESVector) throws {
        let vectors = try LegacyVectors.load()
        let key = try vectors.bytes("aes_key")
        let plaintext = try vectors.bytes(vector.plaintextField)
        let ciphertext = try vectors.bytes(vector.ciphertextField)
        if vector.isText {
            #expect(plaintext.last == 0)
            let text = String(decoding: plaintext.dropLast(), as: UTF8.self)
            #expect(try crypto.encryptText(text, key: key) == ciphertext)
            #expect(try crypto.decryptText(ciphertext, key: key) == text)
        }
        let encryptor = try crypto.makeEncryptor(key: key)
        #expect(try encryptor.update(plaintext) + encryptor.finish() == ciphertext)
        let decryptor = try crypto.makeDecryptor(key: key)
        #expect(try decryptor.update(ciphertext) + decryptor.finish() == plaintext)
    }

    @Test("streaming AES-128-CBC in odd chunk sizes equals the vector both ways",
          arguments: AESVector.all, [1, 7, 16, 1000])
    func streaming(_ vector: AESVector, chunkSize: Int) throws {
        let vectors = try LegacyVectors.load()
        let key = try vectors.bytes("aes_key")
        let plaintext = try vectors.bytes(vector.plaintextField)
        let ciphertext = try vectors.bytes(vector.ciphertextField)
        #expect(try stream(plaintext, through: crypto.makeEncryptor(key: key), chunkSize: chunkSize) == ciphertext)
        #expect(try stream(ciphertext, through: crypto.makeDecryptor(key: key), chunkSize: chunkSize) == plaintext)
    }

    @Test("the short text vector decrypts to its documented string")
    func shortText() throws {
        let vectors = try LegacyVectors.load()
        let text = try crypto.decryptText(vectors.bytes("text_ciphertext"), key: vectors.bytes("aes_key"))
        #expect(text == (try vectors.string("text_plaintext_string")))
    }
}
