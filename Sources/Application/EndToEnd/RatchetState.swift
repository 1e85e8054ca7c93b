/// A Double Ratchet's state (docs/protocol-v3.md §10.3), as a plain value: the client
/// persists it (it is `Codable`; every field is bytes or a counter) after every message it
/// sends or accepts, and never after a failure.
///
/// Secret: it holds the root, chain and skipped message keys and the ratchet private key.
public struct RatchetState: Codable, Sendable, Hashable {
    /// A message key kept for a message not yet received, with when it was kept (ms since
    /// 1970 UTC) so that it expires after 30 days.
    public struct SkippedKey: Codable, Sendable, Hashable {
        public var ratchetKey: [UInt8]
        public var messageNumber: UInt32
        /// HMAC-SHA256(chain key, 0x01): the input of the message keys' HKDF.
        public var messageKey: [UInt8]
        public var storedAt: UInt64
    }

    public var rootKey: [UInt8]
    public var sendingPrivateKey: [UInt8]
    public var sendingPublicKey: [UInt8]
    /// The peer's current ratchet key; nil on the responder's side before its first message.
    public var receivingKey: [UInt8]?
    public var sendingChainKey: [UInt8]?
    public var receivingChainKey: [UInt8]?
    /// Ns, Nr and PN of the specification.
    public var sendCount: UInt32
    public var receiveCount: UInt32
    public var previousSendCount: UInt32
    public var skipped: [SkippedKey]
    /// The peer's earlier ratchet keys (the last 64), so that a replay of a message from a
    /// finished chain is recognised as a duplicate.
    public var retiredReceivingKeys: [[UInt8]]
}
