/// Failures of the crypto port. Every case carries text a user can read and act on.
public enum CryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A public or private key could not be read, or is not the kind the legacy suite uses.
    case invalidKey(String)
    /// A symmetric key of the wrong size was given.
    case invalidSymmetricKeySize(expected: Int, actual: Int)
    /// A key message (type 2) could not be opened: another recipient's key, or damaged.
    case keyUnwrapFailed(String)
    /// Ciphertext did not decrypt: wrong key, damaged or truncated data.
    case decryptionFailed(String)
    /// Decrypted text is not valid UTF-8.
    case invalidText(String)
    /// A stream cipher was used after `finish()`.
    case streamFinished
    /// The crypto library itself failed; carries the operation and the library's error text.
    case library(operation: String, reason: String)

    public var description: String {
        switch self {
        case .invalidKey(let why): "invalid key: \(why)"
        case .invalidSymmetricKeySize(let expected, let actual):
            "a symmetric key is \(expected) bytes, got \(actual)"
        case .keyUnwrapFailed(let why): "could not open the key message: \(why)"
        case .decryptionFailed(let why): "could not decrypt: \(why)"
        case .invalidText(let why): "the decrypted text is unreadable: \(why)"
        case .streamFinished: "the cipher stream was already finished"
        case .library(let operation, let reason): "crypto library failure in \(operation): \(reason)"
        }
    }
}
