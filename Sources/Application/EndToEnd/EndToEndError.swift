import Domain

/// Why an end-to-end operation failed (docs/protocol-v3.md §10). Every case names what the
/// user or the caller should do; none carries key material.
public enum EndToEndError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The envelope's bytes are malformed.
    case malformed(EnvelopeFormatError)
    /// The envelope's signature does not verify under the sender's identity key.
    case badSignature
    /// The envelope names another recipient, or a sender other than the one the server
    /// authenticated.
    case misaddressed(String)
    /// A bundle or prekey message carries a signature that does not verify.
    case invalidPrekeySignature(String)
    /// The sender's identity keys are not those known for the account (safety number changed).
    case identityChanged(AccountID)
    /// A prekey message names a signed or one-time prekey this client does not hold (or no
    /// longer holds: a one-time prekey is deleted on first use).
    case unknownPrekey(String)
    /// A normal message for which there is no session.
    case noSession(AccountID)
    /// This message was received already: its key was used once and erased. Drop it.
    case duplicate
    /// The message would skip more keys than allowed (1,000 in one chain, 2,000 kept).
    case tooManySkippedMessages(String)
    /// The ciphertext does not decrypt, or its content is malformed.
    case decryptionFailed(String)
    /// The crypto library failed.
    case crypto(CryptoError)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed envelope: \(why)"
        case .badSignature: "the envelope's signature does not verify: dropped"
        case .misaddressed(let why): "misaddressed envelope: \(why)"
        case .invalidPrekeySignature(let why): "a prekey signature does not verify: \(why)"
        case .identityChanged(let account): "the identity keys of \(account) changed: compare safety numbers before trusting them"
        case .unknownPrekey(let why): "unknown prekey: \(why)"
        case .noSession(let account): "no session with \(account): ask the sender to start again"
        case .duplicate: "a duplicate of a message already received: dropped"
        case .tooManySkippedMessages(let why): "too many skipped messages: \(why)"
        case .decryptionFailed(let why): "the message does not decrypt: \(why)"
        case .crypto(let error): error.description
        }
    }
}
