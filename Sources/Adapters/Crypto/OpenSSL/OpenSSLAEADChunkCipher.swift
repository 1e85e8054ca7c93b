import Application
import COpenSSL

/// AES-256-GCM on one `EVP_CIPHER_CTX`, keyed once: each chunk only sets a new nonce, so a
/// stream of chunks costs no allocation beyond each output (and none at all through the
/// `into:` variants).
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
        try checkOpen(input, nonce: nonce, associatedData: associatedData)
        let bodyCount = input.count - Self.tagCount
        var outcome = ChunkOutcome.opened(0)
        let output = [UInt8](unsafeUninitializedCapacity: max(bodyCount, 1)) { buffer, count in
            outcome = openChunk(input, nonce: nonce, associatedData: associatedData, into: buffer.baseAddress!)
            if case .opened(let written) = outcome { count = written } else { count = 0 }
        }
        _ = try Self.written(outcome, output: output.count)
        return output
    }

    public func open(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                     into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        try checkOpen(input, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
        let bodyCount = input.count - Self.tagCount
        guard output.count >= bodyCount else {
            throw .invalidKey("the output holds \(output.count) bytes, not the \(bodyCount) opened")
        }
        guard bodyCount > 0 || output.baseAddress != nil else {
            // An empty chunk needs somewhere to point at; its plaintext has no bytes.
            var spare: UInt8 = 0
            let outcome = openChunk(input, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: &spare)
            return try Self.written(outcome, output: 0)
        }
        let outcome = openChunk(input, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                                into: output.bindMemory(to: UInt8.self).baseAddress!)
        return try Self.written(outcome, output: bodyCount)
    }

    private func checkOpen(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                           associatedData: UnsafeRawBufferPointer) throws(CryptoError) {
        guard nonce.count == Self.nonceCount else { throw .invalidKey("an AES-GCM nonce is 12 bytes, got \(nonce.count)") }
        guard input.count >= Self.tagCount else { throw .decryptionFailed("the ciphertext is shorter than its tag") }
        guard input.count <= Self.maximumChunk + Self.tagCount, associatedData.count <= Self.maximumChunk else {
            throw .decryptionFailed("a chunk over 1 GiB")
        }
    }

    /// What `openChunk` did.
    private enum ChunkOutcome {
        case opened(Int)
        /// The tag did not match; the plaintext written must not leave the call.
        case rejected
        case failed
    }

    private static func written(_ outcome: ChunkOutcome, output: Int) throws(CryptoError) -> Int {
        switch outcome {
        case .opened(let count):
            return count
        case .rejected:
            OpenSSLErrorQueue.clear()
            throw .decryptionFailed("the authentication tag does not match: wrong key, or damaged data")
        case .failed:
            throw OpenSSLErrorQueue.failure("AES-256-GCM open")
        }
    }

    /// Opens ciphertext ‖ tag into `out` (room for the ciphertext; it may be `input` itself:
    /// GCM decrypts in place). On a rejected tag, `out` holds unauthenticated bytes that the
    /// caller wipes.
    private func openChunk(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                           into out: UnsafeMutablePointer<UInt8>) -> ChunkOutcome {
        let context = decryptContext
        let bodyCount = input.count - Self.tagCount
        let bytes = input.bindMemory(to: UInt8.self).baseAddress!
        var written: Int32 = 0
        var count = 0
        guard EVP_DecryptInit_ex(context, nil, nil, nil, nonce.bindMemory(to: UInt8.self).baseAddress) == 1 else { return .failed }
        if associatedData.count > 0 {
            guard EVP_DecryptUpdate(context, nil, &written, associatedData.bindMemory(to: UInt8.self).baseAddress,
                                    Int32(associatedData.count)) == 1 else { return .failed }
        }
        // The tag is set before the body is decrypted: decrypting in place overwrites nothing
        // past the body, but the tag is read from the input all the same.
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagCount),
                                  UnsafeMutableRawPointer(mutating: bytes + bodyCount)) == 1 else { return .failed }
        if bodyCount > 0 {
            guard EVP_DecryptUpdate(context, out, &written, bytes, Int32(bodyCount)) == 1 else { return .failed }
            count = Int(written)
        }
        guard EVP_DecryptFinal_ex(context, out + count, &written) == 1 else {
            out.update(repeating: 0, count: max(count, 0))
            return .rejected
        }
        return .opened(count + Int(written))
    }
}
