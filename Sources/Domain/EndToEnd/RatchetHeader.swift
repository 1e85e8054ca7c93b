/// A Double Ratchet message header, sent in clear (docs/protocol-v3.md §10.3): the sender's
/// current ratchet public key, the length of its previous sending chain, and the message's
/// number in the current one.
public struct RatchetHeader: Hashable, Sendable {
    /// The encoded size: key32 ‖ u32 ‖ u32.
    public static let byteCount = 40

    public let ratchetKey: AgreementPublicKey
    public let previousChainLength: UInt32
    public let messageNumber: UInt32

    public init(ratchetKey: AgreementPublicKey, previousChainLength: UInt32, messageNumber: UInt32) {
        self.ratchetKey = ratchetKey
        self.previousChainLength = previousChainLength
        self.messageNumber = messageNumber
    }

    /// The 40 bytes the envelope carries and the AEAD's associated data ends with.
    public var encoded: [UInt8] {
        var out = ratchetKey.bytes
        out.reserveCapacity(Self.byteCount)
        out.appendBigEndian(previousChainLength)
        out.appendBigEndian(messageNumber)
        return out
    }

    init(reading reader: inout EnvelopeByteReader) throws(EnvelopeFormatError) {
        ratchetKey = try reader.agreementKey("the ratchet key")
        previousChainLength = try reader.u32("pn")
        messageNumber = try reader.u32("n")
    }
}
