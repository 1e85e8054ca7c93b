import Application
import COpenSSL

/// AES-128-CBC with a zero IV and PKCS#7 padding over a stream of chunks, on an OpenSSL
/// `EVP_CIPHER_CTX` (docs/protocol-v2.md §9).
///
/// Owns its cipher context, freed (and cleansed) on deinit. Not `Sendable` and not
/// thread-safe: use one instance from one task or thread at a time.
public final class OpenSSLStreamCipher: StreamCipher {
    /// The AES block size; also the size of the key and of the (zero) IV.
    static let blockSize = 16
    /// The largest slice handed to OpenSSL at once: its length parameter is an `Int32`.
    private static let maximumStep = 1 << 30

    private let context: OpaquePointer
    private let decrypting: Bool
    private var finished = false
    private var inputByteCount = 0

    /// Starts a stream in one direction under a 16-byte `key`.
    ///
    /// - Throws: `CryptoError.invalidSymmetricKeySize` for another key size;
    ///   `CryptoError.library` when OpenSSL cannot set up the cipher.
    init(key: [UInt8], decrypting: Bool) throws(CryptoError) {
        guard key.count == Self.blockSize else {
            throw .invalidSymmetricKeySize(expected: Self.blockSize, actual: key.count)
        }
        OpenSSLErrorQueue.clear()
        guard let context = EVP_CIPHER_CTX_new() else {
            throw OpenSSLErrorQueue.failure("EVP_CIPHER_CTX_new")
        }
        let iv = [UInt8](repeating: 0, count: Self.blockSize)
        let status = key.withUnsafeBufferPointer { keyBytes in
            iv.withUnsafeBufferPointer { ivBytes in
                EVP_CipherInit_ex(context, EVP_aes_128_cbc(), nil, keyBytes.baseAddress, ivBytes.baseAddress, decrypting ? 0 : 1)
            }
        }
        guard status == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw OpenSSLErrorQueue.failure("EVP_CipherInit_ex")
        }
        self.context = context
        self.decrypting = decrypting
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
    }

    public func update(_ chunk: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard !finished else { throw .streamFinished }
        guard !chunk.isEmpty else { return [] }
        OpenSSLErrorQueue.clear()
        var failed = false
        let output = [UInt8](unsafeUninitializedCapacity: chunk.count + Self.blockSize) { buffer, count in
            count = 0
            chunk.withUnsafeBufferPointer { input in
                guard let inputBase = input.baseAddress, let outputBase = buffer.baseAddress else {
                    failed = true
                    return
                }
                var offset = 0
                while offset < input.count {
                    let step = min(input.count - offset, Self.maximumStep)
                    var written: Int32 = 0
                    guard EVP_CipherUpdate(context, outputBase + count, &written, inputBase + offset, Int32(step)) == 1 else {
                        failed = true
                        return
                    }
                    count += Int(written)
                    offset += step
                }
            }
        }
        guard !failed else {
            finished = true
            throw OpenSSLErrorQueue.failure("EVP_CipherUpdate")
        }
        inputByteCount += chunk.count
        return output
    }

    public func finish() throws(CryptoError) -> [UInt8] {
        guard !finished else { throw .streamFinished }
        finished = true
        OpenSSLErrorQueue.clear()
        var written: Int32 = 0
        var output = [UInt8](repeating: 0, count: Self.blockSize)
        let status = output.withUnsafeMutableBufferPointer { buffer in
            EVP_CipherFinal_ex(context, buffer.baseAddress, &written)
        }
        guard status == 1 else {
            guard decrypting else { throw OpenSSLErrorQueue.failure("EVP_CipherFinal_ex") }
            let detail = OpenSSLErrorQueue.drain()
            throw .decryptionFailed(explainFailedFinish() + " (OpenSSL: \(detail))")
        }
        output.removeSubrange(Int(written)...)
        return output
    }

    /// Why the final block of a decryption was rejected, from what the stream has seen.
    private func explainFailedFinish() -> String {
        if inputByteCount == 0 {
            return "there is no ciphertext at all"
        }
        if inputByteCount % Self.blockSize != 0 {
            return "the ciphertext is truncated: \(inputByteCount) bytes is not a whole number of \(Self.blockSize)-byte blocks"
        }
        return "the padding is wrong: the key is not the one it was encrypted with, or the data is damaged"
    }
}
