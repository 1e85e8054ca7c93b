import Application
import COpenSSL

/// AES-256-GCM on one `EVP_CIPHER_CTX`, keyed once: each chunk only sets a new nonce, so a
/// stream of chunks costs no allocation beyond each output.
///
/// Pitfall: the key schedule lives in the context, so the context is never shared between
/// threads (the class is not `Sendable`) and it is freed, cleansed, on deinit.
public final class OpenSSLAEADChunkCipher: AEADChunkCipher {
    static let keyCount = 32
    static let nonceCount = 12
    static let tagCount = 16
    /// The largest chunk handed over at once (`EVP_CipherUpdate` takes an `Int32` length).
    static let maximumChunk = 1 << 30

    private let encryptContext: OpaquePointer
    private let decryptContext: OpaquePointer

    /// - Throws: `CryptoError.invalidSymmetricKeySize` unless `key` is 32 bytes.
    public init(key: [UInt8]) throws(CryptoError) {
        guard key.count == Self.keyCount else { throw .invalidSymmetricKeySize(expected: Self.keyCount, actual: key.count) }
        OpenSSLErrorQueue.clear()
        guard let encrypt = EVP_CIPHER_CTX_new() else { throw OpenSSLErrorQueue.failure("EVP_CIPHER_CTX_new") }
        guard let decrypt = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_CTX_free(encrypt)
            throw OpenSSLErrorQueue.failure("EVP_CIPHER_CTX_new")
        }
        let ok = EVP_EncryptInit_ex(encrypt, EVP_aes_256_gcm(), nil, key, nil) == 1
            && EVP_DecryptInit_ex(decrypt, EVP_aes_256_gcm(), nil, key, nil) == 1
        guard ok else {
            EVP_CIPHER_CTX_free(encrypt)
            EVP_CIPHER_CTX_free(decrypt)
            throw OpenSSLErrorQueue.failure("EVP_CipherInit_ex (AES-256-GCM)")
        }
        encryptContext = encrypt
        decryptContext = decrypt
    }

    deinit {
        EVP_CIPHER_CTX_free(encryptContext)
        EVP_CIPHER_CTX_free(decryptContext)
    }

    public func seal(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        try seal(input, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    public func open(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        try open(input, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    func seal(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
              associatedData: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        guard nonce.count == Self.nonceCount else { throw .invalidKey("an AES-GCM nonce is 12 bytes, got \(nonce.count)") }
        guard input.count <= Self.maximumChunk, associatedData.count <= Self.maximumChunk else {
            throw .invalidKey("a chunk over 1 GiB")
        }
        var failed = false
        let output = [UInt8](unsafeUninitializedCapacity: input.count + Self.tagCount) { buffer, count in
            count = 0
            guard let written = sealChunk(input, nonce: nonce, associatedData: associatedData, into: buffer.baseAddress!) else {
                failed = true
                return
            }
            count = written
        }
        guard !failed else { throw OpenSSLErrorQueue.failure("AES-256-GCM seal") }
        return output
    }

    public func seal(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                     into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard nonce.count == Self.nonceCount else { throw .invalidKey("an AES-GCM nonce is 12 bytes, got \(nonce.count)") }
        guard input.count <= Self.maximumChunk else { throw .invalidKey("a chunk over 1 GiB") }
        guard output.count >= input.count + Self.tagCount, let out = output.bindMemory(to: UInt8.self).baseAddress else {
            throw .invalidKey("the output holds \(output.count) bytes, not the \(input.count + Self.tagCount) sealed")
        }
        guard let written = sealChunk(input, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: out) else {
            throw OpenSSLErrorQueue.failure("AES-256-GCM seal")
        }
        return written
    }

    /// Seals into `out` (room for `input.count + 16`); nil when OpenSSL fails.
    private func sealChunk(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                           into out: UnsafeMutablePointer<UInt8>) -> Int? {
        let context = encryptContext
        var written: Int32 = 0
        var count = 0
        guard EVP_EncryptInit_ex(context, nil, nil, nil, nonce.bindMemory(to: UInt8.self).baseAddress) == 1 else { return nil }
        if associatedData.count > 0 {
            guard EVP_EncryptUpdate(context, nil, &written, associatedData.bindMemory(to: UInt8.self).baseAddress,
                                    Int32(associatedData.count)) == 1 else { return nil }
        }
        if input.count > 0 {
            guard EVP_EncryptUpdate(context, out, &written, input.bindMemory(to: UInt8.self).baseAddress, Int32(input.count)) == 1 else {
                return nil
            }
            count = Int(written)
        }
        guard EVP_EncryptFinal_ex(context, out + count, &written) == 1 else { return nil }
        count += Int(written)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagCount), out + count) == 1 else { return nil }
        return count + Self.tagCount
    }

    func open(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
              associatedData: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        guard nonce.count == Self.nonceCount else { throw .invalidKey("an AES-GCM nonce is 12 bytes, got \(nonce.count)") }
        guard input.count >= Self.tagCount else { throw .decryptionFailed("the ciphertext is shorter than its tag") }
        guard input.count <= Self.maximumChunk + Self.tagCount, associatedData.count <= Self.maximumChunk else {
            throw .decryptionFailed("a chunk over 1 GiB")
        }
        let context = decryptContext
        let bodyCount = input.count - Self.tagCount
        let bytes = input.bindMemory(to: UInt8.self).baseAddress!
        var failed = false
        var rejected = false
        let output = [UInt8](unsafeUninitializedCapacity: max(bodyCount, 1)) { buffer, count in
            count = 0
            var written: Int32 = 0
            let out = buffer.baseAddress!
            guard EVP_DecryptInit_ex(context, nil, nil, nil, nonce.bindMemory(to: UInt8.self).baseAddress) == 1 else {
                failed = true
                return
            }
            if associatedData.count > 0 {
                guard EVP_DecryptUpdate(context, nil, &written, associatedData.bindMemory(to: UInt8.self).baseAddress,
                                        Int32(associatedData.count)) == 1 else {
                    failed = true
                    return
                }
            }
            if bodyCount > 0 {
                guard EVP_DecryptUpdate(context, out, &written, bytes, Int32(bodyCount)) == 1 else {
                    failed = true
                    return
                }
                count = Int(written)
            }
            // SET_TAG takes a mutable pointer but only reads the tag.
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagCount),
                                      UnsafeMutableRawPointer(mutating: bytes + bodyCount)) == 1 else {
                failed = true
                return
            }
            guard EVP_DecryptFinal_ex(context, out + count, &written) == 1 else {
                rejected = true
                // Released plaintext of a chunk that failed its tag must not leave this call.
                buffer.baseAddress!.update(repeating: 0, count: buffer.count)
                count = 0
                return
            }
            count += Int(written)
        }
        if rejected {
            OpenSSLErrorQueue.clear()
            throw .decryptionFailed("the authentication tag does not match: wrong key, or damaged data")
        }
        guard !failed else { throw OpenSSLErrorQueue.failure("AES-256-GCM open") }
        return output
    }
}
