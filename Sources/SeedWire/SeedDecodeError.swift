/// Why a request could not be decoded. Each case says what was wrong and where.
public enum SeedDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Byte 17 of the header holds no known request code.
    case unknownCode(UInt8)
    /// The header's payload size does not fit the request code.
    case badPayloadSize(code: SeedRequestCode, size: UInt32, expected: String)
    /// A send's payload size is not 21 plus its content size.
    case sizeMismatch(payloadSize: UInt32, contentSize: UInt32)
    /// A send names a message type outside 1...4.
    case unknownMessageType(UInt8)
    /// The content is larger than the configured limit.
    case contentTooLarge(size: UInt32, limit: UInt32)
    /// The peer closed the connection in the middle of a request.
    case truncated(missing: UInt64)

    public var description: String {
        switch self {
        case .unknownCode(let code): "unknown request code \(code) at header byte 17"
        case .badPayloadSize(let code, let size, let expected):
            "request \(code.rawValue) declares a payload of \(size) bytes, expected \(expected)"
        case .sizeMismatch(let payloadSize, let contentSize):
            "send declares payload \(payloadSize) bytes but content \(contentSize) bytes (payload must be 21 + content)"
        case .unknownMessageType(let type): "unknown message type \(type) at payload byte 16"
        case .contentTooLarge(let size, let limit): "message content of \(size) bytes exceeds the limit of \(limit)"
        case .truncated(let missing): "connection closed with \(missing) bytes of the request missing"
        }
    }
}
