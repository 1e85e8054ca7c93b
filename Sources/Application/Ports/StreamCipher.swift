/// One direction of AES-128-CBC (zero IV, PKCS#7) over a stream of chunks, for files
/// (docs/protocol-v2.md §9.4, type 4): the whole file is one CBC stream.
///
/// Memory stays bounded: each call returns what can be produced so far (a decryptor holds
/// back at most one block, to strip the padding at the end).
///
/// An instance holds mutable cipher state: use it from one task at a time and do not share
/// it across threads (it is deliberately not `Sendable`).
public protocol StreamCipher: AnyObject {
    /// Feeds the next chunk, of any size (including empty), and returns the output it
    /// completes.
    ///
    /// - Throws: `CryptoError.streamFinished` after `finish()`;
    ///   `CryptoError.library` when the crypto library fails.
    func update(_ chunk: [UInt8]) throws(CryptoError) -> [UInt8]

    /// Ends the stream and returns the last output. An encryptor emits the final padded
    /// block; a decryptor checks and strips the padding.
    ///
    /// - Throws: `CryptoError.decryptionFailed` when decrypting input that is truncated (not
    ///   a whole number of blocks, or empty) or whose padding is bad (typically the wrong
    ///   key); `CryptoError.streamFinished` when called twice.
    func finish() throws(CryptoError) -> [UInt8]
}
