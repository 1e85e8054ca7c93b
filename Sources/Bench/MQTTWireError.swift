/// Why bytes are not a valid MQTT 3.1.1 packet, as far as the bench's client reads them.
public enum MQTTWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The remaining length took more than four bytes, or more bytes than it needed.
    case badRemainingLength(String)
    /// A packet longer than the client accepts.
    case tooLarge(Int, limit: Int)
    /// A packet type a client never receives, or one this client does not know.
    case unexpectedType(UInt8)
    /// The fixed header's flags are not the ones the type requires.
    case badFlags(type: UInt8, flags: UInt8)
    /// The packet's body does not have the length or the fields its type requires.
    case malformed(String)
    /// The connection ended in the middle of a packet.
    case endedMidPacket(missing: Int)

    public var description: String {
        switch self {
        case .badRemainingLength(let why): "bad remaining length: \(why)"
        case .tooLarge(let length, let limit): "a packet of \(length) bytes is over the limit of \(limit)"
        case .unexpectedType(let type): "unexpected packet type \(type)"
        case .badFlags(let type, let flags): "packet type \(type) with flags 0x\(String(flags, radix: 16))"
        case .malformed(let why): "malformed packet: \(why)"
        case .endedMidPacket(let missing): "connection ended \(missing) bytes short of a packet's end"
        }
    }
}
