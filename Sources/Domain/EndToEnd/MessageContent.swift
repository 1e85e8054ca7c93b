/// What an envelope's ciphertext holds (docs/protocol-v3.md §10.5): one typed payload,
/// padded with zeros to a multiple of 160 bytes so that lengths leak only coarsely.
public enum MessageContent: Hashable, Sendable {
    /// A text message, at most `maximumTextBytes` of UTF-8.
    case text(String)
    /// A pointer to an encrypted file on the server.
    case attachment(AttachmentPointer)
    /// A type this version does not know: shown as unsupported, never as an error.
    case unsupported(type: UInt8, body: [UInt8])

    /// The padded plaintext's length is a multiple of this.
    public static let paddingBlock = 160
    public static let maximumTextBytes = 65_536

    enum PayloadType: UInt8 {
        case text = 1
        case attachment = 2
    }

    /// Type ‖ length ‖ body ‖ zero padding to a multiple of 160.
    public var padded: [UInt8] {
        let (type, body): (UInt8, [UInt8]) = switch self {
        case .text(let text): (PayloadType.text.rawValue, Array(text.utf8))
        case .attachment(let pointer): (PayloadType.attachment.rawValue, pointer.encoded)
        case .unsupported(let type, let body): (type, body)
        }
        var out: [UInt8] = [type]
        out.appendBigEndian(UInt32(body.count))
        out += body
        let remainder = out.count % Self.paddingBlock
        if remainder != 0 {
            out += [UInt8](repeating: 0, count: Self.paddingBlock - remainder)
        }
        return out
    }

    /// Parses a decrypted, padded payload strictly.
    ///
    /// - Throws: `EnvelopeFormatError` for a length that is not a multiple of 160, a length
    ///   past the end, padding that is not the fewest zero bytes, a text
    ///   that is not UTF-8 or too long, or an attachment body that is not exactly its fields.
    public init(padded bytes: [UInt8]) throws(EnvelopeFormatError) {
        guard !bytes.isEmpty, bytes.count % Self.paddingBlock == 0 else {
            throw .invalidField(field: "the content", reason: "\(bytes.count) bytes is not a positive multiple of \(Self.paddingBlock)")
        }
        var reader = EnvelopeByteReader(bytes)
        let type = try reader.u8("the content type")
        let length = Int(try reader.u32("the content length"))
        let body = try reader.take(length, "the content")
        let padding = try reader.take(reader.remaining, "the padding")
        guard padding.count < Self.paddingBlock, padding.allSatisfy({ $0 == 0 }) else {
            throw .invalidField(field: "the padding", reason: "it is not all zero bytes")
        }
        switch PayloadType(rawValue: type) {
        case .text:
            guard body.count <= Self.maximumTextBytes else {
                throw .invalidField(field: "the text", reason: "\(body.count) bytes is over \(Self.maximumTextBytes)")
            }
            guard let text = String(validating: body, as: UTF8.self) else {
                throw .invalidField(field: "the text", reason: "it is not UTF-8")
            }
            self = .text(text)
        case .attachment:
            self = .attachment(try AttachmentPointer(encoded: body))
        case nil:
            self = .unsupported(type: type, body: body)
        }
    }
}
