import Application
import COpenSSL
import Domain

/// The legacy crypto suite on OpenSSL 3's libcrypto (docs/protocol-v2.md §9).
///
/// Stateless: every call creates and frees its own OpenSSL objects, so one value may be
/// shared freely across tasks. The RSA operations are in `OpenSSLLegacyCrypto+RSA.swift`.
public struct OpenSSLLegacyCrypto: LegacyCrypto {
    /// A symmetric key is an AES-128 key.
    public static let symmetricKeySize = OpenSSLStreamCipher.blockSize

    public init() {}

    public func newSymmetricKey() throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.clear()
        var key = [UInt8](repeating: 0, count: Self.symmetricKeySize)
        let status = key.withUnsafeMutableBufferPointer { buffer in
            RAND_bytes(buffer.baseAddress, Int32(buffer.count))
        }
        guard status == 1 else { throw OpenSSLErrorQueue.failure("RAND_bytes") }
        return key
    }

    public func encryptText(_ text: String, key: [UInt8]) throws(CryptoError) -> [UInt8] {
        // The original feeds the text's terminating NUL to the cipher as well.
        var plaintext = Array(text.utf8)
        plaintext.append(0)
        let cipher = try OpenSSLStreamCipher(key: key, decrypting: false)
        return try cipher.update(plaintext) + cipher.finish()
    }

    public func decryptText(_ ciphertext: [UInt8], key: [UInt8]) throws(CryptoError) -> String {
        let cipher = try OpenSSLStreamCipher(key: key, decrypting: true)
        let plaintext = try cipher.update(ciphertext) + cipher.finish()
        // The receiver reads up to the first NUL, like the original's C string.
        let end = plaintext.firstIndex(of: 0) ?? plaintext.endIndex
        guard let text = String(validating: plaintext[..<end], as: UTF8.self) else {
            throw .invalidText("it is not valid UTF-8")
        }
        return text
    }

    public func makeEncryptor(key: [UInt8]) throws(CryptoError) -> any StreamCipher {
        try OpenSSLStreamCipher(key: key, decrypting: false)
    }

    public func makeDecryptor(key: [UInt8]) throws(CryptoError) -> any StreamCipher {
        try OpenSSLStreamCipher(key: key, decrypting: true)
    }
}
