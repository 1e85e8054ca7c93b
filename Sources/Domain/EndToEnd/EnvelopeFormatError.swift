/// Why bytes are not a well-formed end-to-end envelope or content payload
/// (docs/protocol-v3.md §10.4, §10.5). Parsing never traps: every malformed input ends here.
public enum EnvelopeFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes end before a field does.
    case truncated(field: String)
    /// Bytes are left after the last field.
    case trailingBytes(Int)
    /// A version this client does not speak.
    case unsupportedVersion(UInt8)
    /// A field holds a value the format does not allow.
    case invalidField(field: String, reason: String)

    public var description: String {
        switch self {
        case .truncated(let field): "the envelope ends inside \(field)"
        case .trailingBytes(let count): "\(count) bytes follow the last field"
        case .unsupportedVersion(let version): "envelope version \(version) is not supported"
        case .invalidField(let field, let reason): "invalid \(field): \(reason)"
        }
    }
}
