/// The limits the use cases enforce. Every one comes from configuration.
///
/// Wire formats may narrow them further: protocol v2 caps a content so that it still fits
/// one 1004 reply with its entry head (`SeedResponse.largestContent`).
public struct ServerLimits: Sendable, Hashable {
    /// The largest request payload and message content accepted, in bytes.
    /// The original allows 1 GiB.
    public var maxPayload: UInt32
    /// Contents up to this size are handled in memory; larger ones stream to the store.
    public var inlineContentLimit: UInt32

    public static let gibibyte: UInt32 = 1 << 30

    public init(maxPayload: UInt32 = ServerLimits.gibibyte, inlineContentLimit: UInt32 = 64 * 1024) {
        self.maxPayload = maxPayload
        self.inlineContentLimit = min(inlineContentLimit, maxPayload)
    }
}
