/// The server's number for a stored message, assigned in ascending storing order.
///
/// 64 bits wide, as the stores count; a wire format with a narrower field maps it (protocol
/// v2 carries the low 32 bits, docs/protocol-v2.md §8).
public struct MessageID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public var description: String { String(rawValue) }

    public static func < (lhs: MessageID, rhs: MessageID) -> Bool { lhs.rawValue < rhs.rawValue }
}
