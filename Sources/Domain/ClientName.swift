/// A client's unique, human-chosen name.
///
/// On the wire it travels in a 255-byte field, UTF-8, NUL-terminated and NUL-padded
/// (docs/protocol-v2.md §3.2), so a name holds at most 254 bytes.
public struct ClientName: Hashable, Sendable, CustomStringConvertible {
    /// The size of the name field on the wire.
    public static let fieldSize = 255
    /// The longest name in bytes: the field less its terminating NUL.
    public static let maximumByteCount = fieldSize - 1
    /// The shortest name in characters; the original rejects shorter ones.
    public static let minimumCharacterCount = 2

    /// The name as text.
    public let value: String

    /// Validates a name given as text.
    public init(_ value: String) throws(DomainError) {
        let utf8 = value.utf8
        guard value.count >= Self.minimumCharacterCount else {
            throw .invalidName("a name needs at least \(Self.minimumCharacterCount) characters")
        }
        guard utf8.count <= Self.maximumByteCount else {
            throw .invalidName("a name holds at most \(Self.maximumByteCount) bytes of UTF-8, this one has \(utf8.count)")
        }
        guard !utf8.contains(0) else {
            throw .invalidName("a name must not contain NUL")
        }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidName("a name must not contain control characters")
        }
        self.value = value
    }

    /// Reads the 255-byte wire field: the name ends at the first NUL, which must be present.
    public init<Bytes: Collection>(field: Bytes) throws(DomainError) where Bytes.Element == UInt8 {
        guard field.count == Self.fieldSize else {
            throw .invalidName("the name field must be \(Self.fieldSize) bytes, got \(field.count)")
        }
        guard let end = field.firstIndex(of: 0) else {
            throw .invalidName("the name field has no terminating NUL")
        }
        guard let text = String(validating: field[field.startIndex..<end], as: UTF8.self) else {
            throw .invalidName("the name is not valid UTF-8")
        }
        try self.init(text)
    }

    /// The 255-byte wire field: UTF-8, then NUL padding.
    public var field: [UInt8] {
        var out = Array(value.utf8)
        out.append(contentsOf: repeatElement(0, count: Self.fieldSize - out.count))
        return out
    }

    public var description: String { value }
}
