import Domain

/// The original client's crypto suite (docs/protocol-v2.md §9): RSA-1024
/// identity keys with e = 17, RSAES-OAEP-SHA1 key transport, AES-128-CBC with a zero IV
/// and PKCS#7 padding for texts and files. Everything here is byte-compatible with the
/// original C++ client (Crypto++).
///
/// Symmetric keys are raw 16-byte arrays.
public protocol LegacyCrypto: Sendable {
    /// The size of a symmetric key.
    static var symmetricKeySize: Int { get }

    /// Generates an identity key: RSA-1024 with public exponent 17, so that its X.509
    /// SubjectPublicKeyInfo DER is exactly 160 bytes; the private half as PKCS#8 DER.
    ///
    /// - Throws: `CryptoError.library` when key generation or encoding fails.
    func generateKeyPair() throws(CryptoError) -> IdentityKeyPair

    /// Derives the 160-byte public key that belongs to `privateKey`.
    ///
    /// - Throws: `CryptoError.invalidKey` when the key is not an RSA private key or its
    ///   public key is not 160 bytes (not RSA-1024 with a small exponent).
    func publicKey(for privateKey: PrivateKey) throws(CryptoError) -> PublicKey

    /// Reads `privateKey` and returns its canonical PKCS#8 DER encoding; for a key written
    /// by the original client this is the same bytes. Use it to check a loaded key.
    ///
    /// - Throws: `CryptoError.invalidKey` when the bytes are not a usable RSA private key.
    func canonicalPrivateKey(_ privateKey: PrivateKey) throws(CryptoError) -> PrivateKey

    /// Encrypts a symmetric key to `recipient` (message type 2): RSAES-OAEP with SHA-1,
    /// MGF1-SHA-1 and an empty label. The output is 128 bytes and randomized.
    ///
    /// - Throws: `CryptoError.invalidKey` when `recipient` is not an RSA public key;
    ///   `CryptoError.library` when encryption fails (e.g. `key` is too long for OAEP).
    func wrapKey(_ key: [UInt8], for recipient: PublicKey) throws(CryptoError) -> [UInt8]

    /// Opens a key message (type 2) with the recipient's private key.
    ///
    /// - Throws: `CryptoError.keyUnwrapFailed` when the ciphertext was not made for this key
    ///   or is damaged; `CryptoError.invalidKey` when `privateKey` cannot be read.
    func unwrapKey(_ ciphertext: [UInt8], with privateKey: PrivateKey) throws(CryptoError) -> [UInt8]

    /// Draws a fresh 16-byte symmetric key from a cryptographic random source.
    ///
    /// - Throws: `CryptoError.library` when the random source fails.
    func newSymmetricKey() throws(CryptoError) -> [UInt8]

    /// Encrypts a text message (type 3): the UTF-8 of `text` plus one trailing NUL byte,
    /// under AES-128-CBC with a zero IV and PKCS#7 padding.
    ///
    /// - Throws: `CryptoError.invalidSymmetricKeySize` when `key` is not 16 bytes.
    func encryptText(_ text: String, key: [UInt8]) throws(CryptoError) -> [UInt8]

    /// Decrypts a text message (type 3) and returns the text up to the first NUL (all of it
    /// when there is none).
    ///
    /// - Throws: `CryptoError.decryptionFailed` for bad padding or truncated ciphertext
    ///   (usually the wrong key); `CryptoError.invalidText` when the result is not UTF-8;
    ///   `CryptoError.invalidSymmetricKeySize` when `key` is not 16 bytes.
    func decryptText(_ ciphertext: [UInt8], key: [UInt8]) throws(CryptoError) -> String

    /// Starts encrypting a file (type 4) as one CBC stream.
    ///
    /// - Throws: `CryptoError.invalidSymmetricKeySize` when `key` is not 16 bytes.
    func makeEncryptor(key: [UInt8]) throws(CryptoError) -> any StreamCipher

    /// Starts decrypting a file (type 4) as one CBC stream.
    ///
    /// - Throws: `CryptoError.invalidSymmetricKeySize` when `key` is not 16 bytes.
    func makeDecryptor(key: [UInt8]) throws(CryptoError) -> any StreamCipher
}
