/// A v3 account's unique name (docs/protocol-v3.md §5.1): 2 to 64 bytes of UTF-8, no control
/// characters, no space at either end. Its own namespace, apart from v2's `ClientName`.
/// Compared and looked up byte for byte.
public struct AccountName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let minimumByteCount = 2
    public static let maximumByteCount = 64

    public let value: String

    public init(_ value: String) throws(AccountError) {
        let count = value.utf8.count
        guard count >= Self.minimumByteCount, count <= Self.maximumByteCount else {
            throw .invalidName("a name is \(Self.minimumByteCount) to \(Self.maximumByteCount) bytes of UTF-8, this one has \(count)")
        }
        guard !value.unicodeScalars.contains(where: Self.isControl) else {
            throw .invalidName("a name must not contain control characters")
        }
        guard value.first != " ", value.last != " " else {
            throw .invalidName("a name must not begin or end with a space")
        }
        self.value = value
    }

    /// Validates a name's UTF-8 bytes.
    public init(utf8 bytes: some Collection<UInt8>) throws(AccountError) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidName("a name must be valid UTF-8")
        }
        try self.init(text)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    public var description: String { value }

    /// Byte for byte, as names are unique and looked up (§5.1): two spellings that Unicode
    /// calls equal (a precomposed "é" and "e" with a combining accent) are different names.
    public static func == (lhs: AccountName, rhs: AccountName) -> Bool {
        lhs.value.utf8.elementsEqual(rhs.value.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        for byte in value.utf8 { hasher.combine(byte) }
    }

    /// Byte-wise order of the UTF-8, as LIST pages sort (§5.7).
    public static func < (lhs: AccountName, rhs: AccountName) -> Bool {
        lhs.value.utf8.lexicographicallyPrecedes(rhs.value.utf8)
    }
}
