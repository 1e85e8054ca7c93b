/// A v3 attachment's id: 16 bytes the server picks at random (docs/protocol-v3.md §9).
public struct AttachmentID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let byteCount = 16

    /// The id's bytes, exactly 16.
    public let bytes: [UInt8]

    /// - Returns: `nil` unless `bytes` holds exactly 16 bytes.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses 32 hex digits.
    public init?(hex: String) {
        guard let bytes = HexBytes.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// 32 lower-case hex digits: also the attachment's file name in the file-backed stores.
    public var description: String { HexBytes.encode(bytes) }

    /// A fresh id from the system's random source.
    public static func random() -> AttachmentID {
        var generator = SystemRandomNumberGenerator()
        return AttachmentID(bytes: (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) })!
    }

    public static func < (lhs: AttachmentID, rhs: AttachmentID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}
