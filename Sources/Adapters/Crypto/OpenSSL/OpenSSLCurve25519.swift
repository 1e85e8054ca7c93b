import Application
import COpenSSL
import Domain

/// Ed25519 and X25519 over OpenSSL 3's libcrypto, on raw 32-byte keys.
///
/// Private keys are given as bytes and live in OpenSSL only for the one call; nothing here
/// logs or keeps them.
public enum OpenSSLCurve25519 {
    /// Why a Curve25519 operation failed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) throws(Failure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard count == 0 || RAND_bytes(&bytes, Int32(count)) == 1 else { throw Failure(description: "RAND_bytes failed") }
        return bytes
    }

    private static func rawKey(_ type: Int32, privateKey bytes: [UInt8]) throws(Failure) -> OpaquePointer {
        guard bytes.count == 32, let key = EVP_PKEY_new_raw_private_key(type, nil, bytes, 32) else {
            throw Failure(description: "not a 32-byte private key")
        }
        return key
    }

    private static func publicBytes(of key: OpaquePointer) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == 32 else {
            throw Failure(description: "cannot read the public key")
        }
        return out
    }

    /// A fresh private key of `type` made by OpenSSL's key generator, as its 32 raw bytes.
    private static func generate(_ type: Int32, _ name: String) throws(Failure) -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new_id(type, nil) else { throw Failure(description: "EVP_PKEY_CTX_new_id failed for \(name)") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_keygen(context, &key) == 1, let key else {
            ERR_clear_error()
            throw Failure(description: "\(name) key generation failed")
        }
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_private_key(key, &out, &length) == 1, length == 32 else {
            throw Failure(description: "cannot read the new \(name) private key")
        }
        return out
    }

    // MARK: Ed25519

    /// A new Ed25519 private key (the RFC 8032 seed).
    public static func newSigningSeed() throws(Failure) -> [UInt8] {
        try generate(EVP_PKEY_ED25519, "Ed25519")
    }

    /// The public key of the Ed25519 private key (seed) `seed`.
    public static func signingPublicKey(seed: [UInt8]) throws(Failure) -> SigningPublicKey {
        let key = try rawKey(EVP_PKEY_ED25519, privateKey: seed)
        defer { EVP_PKEY_free(key) }
        return try! SigningPublicKey(bytes: try publicBytes(of: key))
    }

    /// Signs `message` with the Ed25519 private key (seed) `seed`.
    public static func sign(_ message: [UInt8], seed: [UInt8]) throws(Failure) -> Signature {
        let key = try rawKey(EVP_PKEY_ED25519, privateKey: seed)
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { throw Failure(description: "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
              EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else {
            throw Failure(description: "Ed25519 signing failed")
        }
        return try! Signature(bytes: signature)
    }

    /// Whether `signature` is `key`'s Ed25519 signature of `message`.
    public static func isValid(_ signature: Signature, of message: [UInt8], by key: SigningPublicKey) -> Bool {
        guard let publicKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, key.bytes, 32) else { return false }
        defer { EVP_PKEY_free(publicKey) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, publicKey) == 1 else { return false }
        let valid = EVP_DigestVerify(context, signature.bytes, 64, message, message.count) == 1
        // A failed verification leaves an error on the thread's queue; it is not ours to keep.
        if !valid { ERR_clear_error() }
        return valid
    }

    // MARK: X25519

    /// A new X25519 private key.
    public static func newAgreementPrivateKey() throws(Failure) -> [UInt8] {
        try generate(EVP_PKEY_X25519, "X25519")
    }

    /// The public key of the X25519 private key `privateKey`.
    public static func agreementPublicKey(privateKey: [UInt8]) throws(Failure) -> AgreementPublicKey {
        let key = try rawKey(EVP_PKEY_X25519, privateKey: privateKey)
        defer { EVP_PKEY_free(key) }
        return try! AgreementPublicKey(bytes: try publicBytes(of: key))
    }

    /// X25519(privateKey, peer). Refuses an all-zero result (a small-order peer key), as
    /// RFC 7748 §6.1 allows and X3DH needs.
    public static func sharedSecret(privateKey: [UInt8], peer: AgreementPublicKey) throws(Failure) -> [UInt8] {
        let key = try rawKey(EVP_PKEY_X25519, privateKey: privateKey)
        defer { EVP_PKEY_free(key) }
        guard let peerKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, peer.bytes, 32) else {
            throw Failure(description: "not an X25519 public key")
        }
        defer { EVP_PKEY_free(peerKey) }
        guard let context = EVP_PKEY_CTX_new(key, nil) else { throw Failure(description: "EVP_PKEY_CTX_new failed") }
        defer { EVP_PKEY_CTX_free(context) }
        var secret = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peerKey) == 1,
              EVP_PKEY_derive(context, &secret, &length) == 1, length == 32 else {
            ERR_clear_error()
            throw Failure(description: "X25519 failed (a small-order peer key?)")
        }
        guard secret.reduce(0, |) != 0 else { throw Failure(description: "X25519 gave the all-zero secret") }
        return secret
    }
}

/// The server's signature checks, on OpenSSL.
public struct OpenSSLSignatureVerifier: SignatureVerifier {
    public init() {}

    public func isValid(_ signature: Signature, of message: [UInt8], by key: SigningPublicKey) -> Bool {
        OpenSSLCurve25519.isValid(signature, of: message, by: key)
    }
}
