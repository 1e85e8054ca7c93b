import Domain

/// The primitives of the end-to-end cryptography (docs/protocol-v3.md §10), and nothing else:
/// the client's use cases build X3DH, the Double Ratchet, the signed envelope, STREAM and
/// safety numbers from these, never from a primitive of their own.
///
/// Private keys and secrets are passed as raw bytes; an implementation keeps none of them past
/// the call and logs none of them.
public protocol EndToEndCrypto: Sendable {
    /// `count` bytes from a CSPRNG.
    func randomBytes(_ count: Int) throws(CryptoError) -> [UInt8]

    /// The X25519 public key of a 32-byte private key.
    func agreementPublicKey(privateKey: [UInt8]) throws(CryptoError) -> AgreementPublicKey
    /// X25519(privateKey, peer); throws `invalidKey` for an all-zero result (a small-order peer).
    func sharedSecret(privateKey: [UInt8], peer: AgreementPublicKey) throws(CryptoError) -> [UInt8]

    /// The Ed25519 public key of a 32-byte seed.
    func signingPublicKey(seed: [UInt8]) throws(CryptoError) -> SigningPublicKey
    /// The Ed25519 signature of `message` by `seed`.
    func sign(_ message: [UInt8], seed: [UInt8]) throws(CryptoError) -> Signature
    /// Whether `signature` is `key`'s Ed25519 signature of `message` (strict verification).
    func isValid(_ signature: Signature, of message: [UInt8], by key: SigningPublicKey) -> Bool

    /// HKDF-SHA256 (RFC 5869): `outputCount` bytes from `inputKey`, `salt` and `info`.
    func hkdfSHA256(inputKey: [UInt8], salt: [UInt8], info: [UInt8], outputCount: Int) throws(CryptoError) -> [UInt8]
    /// HMAC-SHA256 (RFC 2104) of `message` under `key`.
    func hmacSHA256(key: [UInt8], message: [UInt8]) throws(CryptoError) -> [UInt8]
    /// SHA-256 of `data`.
    func sha256(_ data: [UInt8]) throws(CryptoError) -> [UInt8]
    /// SHA-512 of `data`.
    func sha512(_ data: [UInt8]) throws(CryptoError) -> [UInt8]

    /// AES-256-GCM with a 12-byte nonce: the ciphertext followed by the 16-byte tag.
    func sealAESGCM(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8]
    /// Opens `sealAESGCM`'s output; throws `decryptionFailed` when the tag does not match.
    func openAESGCM(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8]
    /// An AES-256-GCM context under one key, for many chunks (attachments' STREAM).
    func makeChunkCipher(key: [UInt8]) throws(CryptoError) -> any AEADChunkCipher

    /// Whether `a` and `b` are equal, in time that depends on their length only.
    func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool
}

/// AES-256-GCM under one key, set up once and reused for every chunk of a stream (no
/// associated data). Not thread-safe: one stream, one task.
public protocol AEADChunkCipher: AnyObject {
    /// Seals `input` under the 12-byte `nonce`: ciphertext ‖ 16-byte tag.
    func seal(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8]
    /// Seals `input` under the 12-byte `nonce` into the start of `output` (at least
    /// `input.count + 16` bytes), without allocating: ciphertext ‖ 16-byte tag.
    ///
    /// - Returns: the bytes written, `input.count + 16`.
    func seal(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int
    /// Opens ciphertext ‖ tag under the 12-byte `nonce`; throws `decryptionFailed` on a bad tag.
    func open(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8]
    /// Opens ciphertext ‖ tag under the 12-byte `nonce` into the start of `output` (at least
    /// `input.count - 16` bytes; it may be `input` itself, decrypting in place), without
    /// allocating. On a bad tag it throws `decryptionFailed` and leaves no plaintext in `output`.
    ///
    /// - Returns: the bytes written, `input.count - 16`.
    func open(_ input: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int
}
