/// The limits the use cases enforce. Every one comes from configuration.
public struct ServerLimits: Sendable, Hashable {
    /// The largest request payload and message content accepted, in bytes.
    /// The original allows 1 GiB.
    public var maxPayload: UInt32
    /// Contents up to this size are handled in memory; larger ones stream to the store.
    public var inlineContentLimit: UInt32

    public static let gibibyte: UInt32 = 1 << 30

    public init(maxPayload: UInt32 = ServerLimits.gibibyte, inlineContentLimit: UInt32 = 64 * 1024) {
        // A message must fit a 1004 reply with its 25-byte entry header.
        self.maxPayload = min(maxPayload, UInt32.max - 25)
        self.inlineContentLimit = min(inlineContentLimit, maxPayload)
    }

    /// The largest 1004 payload one pull returns: bounded by the 32-bit size field
    /// and by the payload limit, but at least one maximal message.
    public var maxPullBytes: UInt64 {
        min(UInt64(UInt32.max), 25 + UInt64(maxPayload))
    }
}
