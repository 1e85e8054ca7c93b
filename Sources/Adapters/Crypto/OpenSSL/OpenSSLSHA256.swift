import COpenSSL

/// SHA-256 over bytes given piece by piece, with libcrypto: for checking that a large
/// attachment came back byte for byte without holding it. Not shared between tasks.
public final class OpenSSLSHA256 {
    private let context: OpaquePointer

    public init() {
        // Allocation and SHA-256's init fail only when out of memory.
        context = EVP_MD_CTX_new()!
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "SHA-256 init failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds `bytes` to the digest.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "SHA-256 update failed")
    }

    /// The digest of everything added; the hasher is spent afterwards.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32, "SHA-256 final failed")
        return digest
    }
}
