/// Why bytes are not a valid protocol v3 frame or body (docs/protocol-v3.md §2–§3).
public enum V3WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The frame's length field is below 5 or above the limit.
    case badFrameLength(UInt32, limit: UInt32)
    /// The body ended before a field (`needed` more bytes).
    case truncated(field: String, needed: Int)
    /// The body has bytes after its last field.
    case trailingBytes(Int)
    /// A field holds a value outside its range.
    case invalidField(String)
    /// A frame type the receiver does not know and may not skip.
    case unknownFrameType(UInt8)
    /// The connection ended in the middle of a frame.
    case endedMidFrame(missing: Int)

    public var description: String {
        switch self {
        case .badFrameLength(let length, let limit): "frame length \(length) is outside 5...\(limit)"
        case .truncated(let field, let needed): "body ends before \(field) (\(needed) more bytes needed)"
        case .trailingBytes(let count): "\(count) bytes after the body's last field"
        case .invalidField(let why): "invalid field: \(why)"
        case .unknownFrameType(let type): "unknown frame type 0x\(String(type, radix: 16))"
        case .endedMidFrame(let missing): "connection ended \(missing) bytes short of a frame's end"
        }
    }
}
