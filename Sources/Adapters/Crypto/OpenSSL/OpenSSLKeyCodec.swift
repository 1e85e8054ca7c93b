import Application
import COpenSSL
import Domain

/// Moves RSA keys between DER bytes and OpenSSL `EVP_PKEY` objects.
///
/// Every returned `EVP_PKEY` belongs to the caller, who frees it with `EVP_PKEY_free`.
enum OpenSSLKeyCodec {
    /// Reads an X.509 SubjectPublicKeyInfo DER holding an RSA key.
    ///
    /// - Throws: `CryptoError.invalidKey` when the bytes are not exactly one such structure.
    static func parsePublicKey(_ der: [UInt8]) throws(CryptoError) -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        let (key, consumed) = der.withUnsafeBufferPointer { bytes -> (OpaquePointer?, Int) in
            guard let base = bytes.baseAddress else { return (nil, 0) }
            var cursor: UnsafePointer<UInt8>? = base
            let key = d2i_PUBKEY(nil, &cursor, bytes.count)
            return (key, cursor.map { $0 - base } ?? 0)
        }
        guard let key else {
            throw .invalidKey("not an X.509 SubjectPublicKeyInfo DER public key (OpenSSL: \(OpenSSLErrorQueue.drain()))")
        }
        guard consumed == der.count else {
            EVP_PKEY_free(key)
            throw .invalidKey("\(der.count - consumed) unexpected bytes follow the public key")
        }
        try requireRSA(key)
        return key
    }

    /// Reads a PKCS#8 PrivateKeyInfo DER holding an RSA key.
    ///
    /// - Throws: `CryptoError.invalidKey` when the bytes are not exactly one such structure.
    static func parsePrivateKey(_ der: [UInt8]) throws(CryptoError) -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        let (info, consumed) = der.withUnsafeBufferPointer { bytes -> (OpaquePointer?, Int) in
            guard let base = bytes.baseAddress else { return (nil, 0) }
            var cursor: UnsafePointer<UInt8>? = base
            let info = d2i_PKCS8_PRIV_KEY_INFO(nil, &cursor, bytes.count)
            return (info, cursor.map { $0 - base } ?? 0)
        }
        guard let info else {
            throw .invalidKey("not a PKCS#8 DER private key (OpenSSL: \(OpenSSLErrorQueue.drain()))")
        }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        guard consumed == der.count else {
            throw .invalidKey("\(der.count - consumed) unexpected bytes follow the private key")
        }
        guard let key = EVP_PKCS82PKEY(info) else {
            throw .invalidKey("the PKCS#8 structure holds no usable key (OpenSSL: \(OpenSSLErrorQueue.drain()))")
        }
        try requireRSA(key)
        return key
    }

    /// The X.509 SubjectPublicKeyInfo DER of `key`'s public half.
    static func encodePublicKey(_ key: OpaquePointer) throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.clear()
        let size = i2d_PUBKEY(key, nil)
        guard size > 0 else { throw OpenSSLErrorQueue.failure("i2d_PUBKEY") }
        var written: Int32 = 0
        let der = [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            var cursor = buffer.baseAddress
            written = i2d_PUBKEY(key, &cursor)
            count = written == size ? Int(size) : 0
        }
        guard written == size else { throw OpenSSLErrorQueue.failure("i2d_PUBKEY") }
        return der
    }

    /// The PKCS#8 PrivateKeyInfo DER of `key`.
    static func encodePrivateKey(_ key: OpaquePointer) throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.clear()
        guard let info = EVP_PKEY2PKCS8(key) else { throw OpenSSLErrorQueue.failure("EVP_PKEY2PKCS8") }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        let size = i2d_PKCS8_PRIV_KEY_INFO(info, nil)
        guard size > 0 else { throw OpenSSLErrorQueue.failure("i2d_PKCS8_PRIV_KEY_INFO") }
        var written: Int32 = 0
        let der = [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            var cursor = buffer.baseAddress
            written = i2d_PKCS8_PRIV_KEY_INFO(info, &cursor)
            count = written == size ? Int(size) : 0
        }
        guard written == size else { throw OpenSSLErrorQueue.failure("i2d_PKCS8_PRIV_KEY_INFO") }
        return der
    }

    /// The 160-byte wire form of `key`'s public half.
    ///
    /// - Throws: `CryptoError.invalidKey` when it is not 160 bytes (not RSA-1024 with a small
    ///   exponent such as 17).
    static func wirePublicKey(of key: OpaquePointer) throws(CryptoError) -> PublicKey {
        let der = try encodePublicKey(key)
        do {
            return try PublicKey(bytes: der)
        } catch {
            throw .invalidKey("the public key must be RSA-1024 with exponent 17 (160 bytes of DER): \(error.description)")
        }
    }

    /// Checks that `key` is a plain RSA key; on failure frees it, so callers need no cleanup.
    private static func requireRSA(_ key: OpaquePointer) throws(CryptoError) {
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw .invalidKey("the key is not an RSA key")
        }
    }
}
