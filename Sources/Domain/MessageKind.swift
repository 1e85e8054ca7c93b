/// What a message carries (docs/protocol-v2.md §3.5, message types).
public enum MessageKind: UInt8, Sendable, CaseIterable {
    /// A request for the recipient's symmetric key; carries no content.
    case keyRequest = 1
    /// A symmetric key, encrypted to the recipient's public key.
    case symmetricKey = 2
    /// Ciphertext of a text.
    case text = 3
    /// Ciphertext of a file.
    case file = 4

    /// Checks the content size a message of this kind may have.
    public func validate(contentSize: UInt32) throws(DomainError) {
        if self == .keyRequest && contentSize != 0 {
            throw .invalidMessage("a key request carries no content, this one declares \(contentSize) bytes")
        }
    }
}
