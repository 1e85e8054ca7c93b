import Application
import COpenSSL
import Domain

/// Identity keys and key transport: RSA-1024 (e = 17) and RSAES-OAEP-SHA1.
extension OpenSSLLegacyCrypto {
    /// The modulus size of an identity key.
    static let modulusBits: UInt32 = 1024
    /// The public exponent the original uses; 65537 would make the public key 162 bytes.
    static let publicExponent: UInt = 17

    public func generateKeyPair() throws(CryptoError) -> IdentityKeyPair {
        OpenSSLErrorQueue.clear()
        guard let key = sealpost_rsa_keygen(Self.modulusBits, Self.publicExponent) else {
            throw OpenSSLErrorQueue.failure("RSA key generation")
        }
        defer { EVP_PKEY_free(key) }
        let publicKey = try OpenSSLKeyCodec.wirePublicKey(of: key)
        let privateDER = try OpenSSLKeyCodec.encodePrivateKey(key)
        return IdentityKeyPair(publicKey: publicKey, privateKey: try Self.domainKey(privateDER))
    }

    public func publicKey(for privateKey: PrivateKey) throws(CryptoError) -> PublicKey {
        let key = try OpenSSLKeyCodec.parsePrivateKey(privateKey.der)
        defer { EVP_PKEY_free(key) }
        return try OpenSSLKeyCodec.wirePublicKey(of: key)
    }

    public func canonicalPrivateKey(_ privateKey: PrivateKey) throws(CryptoError) -> PrivateKey {
        let key = try OpenSSLKeyCodec.parsePrivateKey(privateKey.der)
        defer { EVP_PKEY_free(key) }
        return try Self.domainKey(OpenSSLKeyCodec.encodePrivateKey(key))
    }

    public func wrapKey(_ key: [UInt8], for recipient: PublicKey) throws(CryptoError) -> [UInt8] {
        let rsa = try OpenSSLKeyCodec.parsePublicKey(recipient.bytes)
        defer { EVP_PKEY_free(rsa) }
        return try Self.oaep(key, with: rsa, encrypting: true)
    }

    public func unwrapKey(_ ciphertext: [UInt8], with privateKey: PrivateKey) throws(CryptoError) -> [UInt8] {
        let rsa = try OpenSSLKeyCodec.parsePrivateKey(privateKey.der)
        defer { EVP_PKEY_free(rsa) }
        return try Self.oaep(ciphertext, with: rsa, encrypting: false)
    }

    /// One RSAES-OAEP operation with SHA-1 and MGF1-SHA-1, empty label.
    private static func oaep(_ input: [UInt8], with key: OpaquePointer, encrypting: Bool) throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            throw OpenSSLErrorQueue.failure("EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(context) }
        let initialised = encrypting ? EVP_PKEY_encrypt_init(context) : EVP_PKEY_decrypt_init(context)
        guard initialised == 1,
              EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha1()) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha1()) == 1
        else {
            throw OpenSSLErrorQueue.failure("RSA-OAEP setup")
        }

        var status: Int32 = 0
        var output = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(key)))
        var outputSize = output.count
        input.withUnsafeBufferPointer { inBytes in
            output.withUnsafeMutableBufferPointer { outBytes in
                status = encrypting
                    ? EVP_PKEY_encrypt(context, outBytes.baseAddress, &outputSize, inBytes.baseAddress, inBytes.count)
                    : EVP_PKEY_decrypt(context, outBytes.baseAddress, &outputSize, inBytes.baseAddress, inBytes.count)
            }
        }
        guard status == 1 else {
            guard encrypting else {
                let detail = OpenSSLErrorQueue.drain()
                throw .keyUnwrapFailed("it was not encrypted to this private key, or it is damaged (OpenSSL: \(detail))")
            }
            throw OpenSSLErrorQueue.failure("RSA-OAEP encryption")
        }
        output.removeSubrange(outputSize...)
        return output
    }

    private static func domainKey(_ der: [UInt8]) throws(CryptoError) -> PrivateKey {
        do {
            return try PrivateKey(der: der)
        } catch {
            throw .invalidKey("OpenSSL produced a malformed private key: \(error.description)")
        }
    }
}
