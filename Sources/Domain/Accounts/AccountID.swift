/// A v3 account's id: 16 bytes the server picks at random (docs/protocol-v3.md §5.1).
public struct AccountID: Hashable, Sendable, Comparable, CustomStringConvertible {
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

    /// 32 lower-case hex digits.
    public var description: String { HexBytes.encode(bytes) }

    public static func < (lhs: AccountID, rhs: AccountID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// Lower-case hex, both ways, for ids and fingerprints.
public enum HexBytes {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// - Returns: `nil` for an odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
