import Domain

/// What to do with a symmetric key received from a contact (message type 2).
///
/// The original client keeps the first key it has for a sender and ignores later ones.
/// That alone breaks under glare: when both sides send a fresh key at once, each keeps its
/// own and neither reads the other. Sealpost keeps the original's rule and adds one
/// deterministic tie-break, the same on both sides:
///
/// - no key yet for the sender: the received key becomes current;
/// - the current key was **received** from the sender: keep it (the original's rule);
/// - the current key was **created here** and sent to the sender (glare, or an answer
///   crossing our own key): the key of the client with the **smaller id** wins. When the
///   sender's id is smaller, its key becomes current; otherwise ours stays current. Both
///   Sealpost sides reach the same key.
///
/// A key that is not made current is still kept, as an older key: decryption tries the
/// current key and then every older one, newest first, so messages already queued under a
/// replaced or ignored key stay readable.
///
/// With an original client on the other side, glare resolves only when the original has
/// the smaller id (it never switches); we still read its messages through the kept key.
public enum PairKeyPolicy {
    /// Whether a received key becomes current.
    public enum Decision: Hashable, Sendable {
        /// The key is already known; nothing changes.
        case alreadyKnown
        /// The key becomes the current one.
        case adopt
        /// The key is kept for decryption only.
        case keepAsOlder
    }

    /// Decides about `key`, received from `sender`, given the keys already known for it
    /// (current first) and this client's own id.
    public static func decide(received key: [UInt8], from sender: ClientID, known: [PairKey], me: ClientID) -> Decision {
        if known.contains(where: { $0.bytes == key }) { return .alreadyKnown }
        guard let current = known.first else { return .adopt }
        switch current.origin {
        case .received: return .keepAsOlder
        case .created: return sender < me ? .adopt : .keepAsOlder
        }
    }
}
