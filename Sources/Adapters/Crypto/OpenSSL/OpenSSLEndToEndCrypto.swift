import Application
import COpenSSL
import Domain

/// The end-to-end primitives on OpenSSL 3's libcrypto (docs/protocol-v3.md §10): X25519 and
/// Ed25519 (through `OpenSSLCurve25519`), HKDF-SHA256 (`EVP_PKEY_HKDF`, whose setters copy
/// their inputs, so no `OSSL_PARAM` has to outlive a Swift temporary), HMAC-SHA256, SHA-256,
/// SHA-512, AES-256-GCM and `CRYPTO_memcmp`.
public struct OpenSSLEndToEndCrypto: EndToEndCrypto {
    public init() {}

    public func randomBytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        do { return try OpenSSLCurve25519.randomBytes(count) } catch { throw .library(operation: "RAND_bytes", reason: error.description) }
    }

    public func agreementPublicKey(privateKey: [UInt8]) throws(CryptoError) -> AgreementPublicKey {
        do { return try OpenSSLCurve25519.agreementPublicKey(privateKey: privateKey) } catch { throw .invalidKey(error.description) }
    }

    public func sharedSecret(privateKey: [UInt8], peer: AgreementPublicKey) throws(CryptoError) -> [UInt8] {
        do { return try OpenSSLCurve25519.sharedSecret(privateKey: privateKey, peer: peer) } catch { throw .invalidKey(error.description) }
    }

    public func signingPublicKey(seed: [UInt8]) throws(CryptoError) -> SigningPublicKey {
        do { return try OpenSSLCurve25519.signingPublicKey(seed: seed) } catch { throw .invalidKey(error.description) }
    }

    public func sign(_ message: [UInt8], seed: [UInt8]) throws(CryptoError) -> Signature {
        do { return try OpenSSLCurve25519.sign(message, seed: seed) } catch { throw .invalidKey(error.description) }
    }

    public func isValid(_ signature: Signature, of message: [UInt8], by key: SigningPublicKey) -> Bool {
        OpenSSLCurve25519.isValid(signature, of: message, by: key)
    }

    public func hkdfSHA256(inputKey: [UInt8], salt: [UInt8], info: [UInt8], outputCount: Int) throws(CryptoError) -> [UInt8] {
        guard (1...255 * 32).contains(outputCount) else { throw .invalidKey("HKDF-SHA256 gives 1 to 8160 bytes, not \(outputCount)") }
        OpenSSLErrorQueue.clear()
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw OpenSSLErrorQueue.failure("EVP_PKEY_CTX_new_id(HKDF)") }
        defer { EVP_PKEY_CTX_free(context) }
        // An empty salt is RFC 5869's default (HashLen zeros); OpenSSL wants a non-NULL pointer.
        let saltBytes = salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt
        var output = [UInt8](repeating: 0, count: outputCount)
        var length = outputCount
        guard EVP_PKEY_derive_init(context) == 1,
              EVP_PKEY_CTX_set_hkdf_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set1_hkdf_salt(context, saltBytes, Int32(saltBytes.count)) == 1,
              EVP_PKEY_CTX_set1_hkdf_key(context, inputKey, Int32(inputKey.count)) == 1,
              info.isEmpty || EVP_PKEY_CTX_add1_hkdf_info(context, info, Int32(info.count)) == 1,
              EVP_PKEY_derive(context, &output, &length) == 1, length == outputCount else {
            throw OpenSSLErrorQueue.failure("HKDF-SHA256")
        }
        return output
    }

    public func hmacSHA256(key: [UInt8], message: [UInt8]) throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.clear()
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // HMAC() reads a NULL key as "no key"; give an empty key a real pointer.
        let keyBytes = key.isEmpty ? [0] : key
        guard HMAC(EVP_sha256(), keyBytes, Int32(key.count), message, message.count, &output, &length) != nil, length == 32 else {
            throw OpenSSLErrorQueue.failure("HMAC-SHA256")
        }
        return output
    }

    public func sha256(_ data: [UInt8]) throws(CryptoError) -> [UInt8] {
        try digest(data, EVP_sha256(), 32)
    }

    public func sha512(_ data: [UInt8]) throws(CryptoError) -> [UInt8] {
        try digest(data, EVP_sha512(), 64)
    }

    private func digest(_ data: [UInt8], _ type: OpaquePointer?, _ count: Int) throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.clear()
        var output = [UInt8](repeating: 0, count: count)
        var length: UInt32 = 0
        guard EVP_Digest(data, data.count, &output, &length, type, nil) == 1, length == count else {
            throw OpenSSLErrorQueue.failure("EVP_Digest")
        }
        return output
    }

    public func sealAESGCM(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        let cipher = try OpenSSLAEADChunkCipher(key: key)
        return try withBytes(plaintext) { input throws(CryptoError) in
            try withBytes(nonce) { nonceBytes throws(CryptoError) in
                try withBytes(associatedData) { ad throws(CryptoError) in
                    try cipher.seal(input, nonce: nonceBytes, associatedData: ad)
                }
            }
        }
    }

    public func openAESGCM(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        let cipher = try OpenSSLAEADChunkCipher(key: key)
        return try withBytes(ciphertext) { input throws(CryptoError) in
            try withBytes(nonce) { nonceBytes throws(CryptoError) in
                try withBytes(associatedData) { ad throws(CryptoError) in
                    try cipher.open(input, nonce: nonceBytes, associatedData: ad)
                }
            }
        }
    }

    public func makeChunkCipher(key: [UInt8]) throws(CryptoError) -> any AEADChunkCipher {
        try OpenSSLAEADChunkCipher(key: key)
    }

    public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return CRYPTO_memcmp(a, b, a.count) == 0
    }
}

/// `withUnsafeBytes` for a body with typed throws (the standard library's rethrows `any Error`).
private func withBytes<Result>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CryptoError) -> Result) throws(CryptoError) -> Result {
    var outcome: Swift.Result<Result, CryptoError>?
    array.withUnsafeBytes { bytes in
        do throws(CryptoError) { outcome = .success(try body(bytes)) } catch { outcome = .failure(error) }
    }
    return try outcome!.get()
}
