/// What a recipient needs to fetch and decrypt an attachment (docs/protocol-v3.md §10.5,
/// §10.6): where it is, its key, and the size and SHA-256 of its ciphertext.
public struct AttachmentPointer: Hashable, Sendable {
    public static let idBytes: ClosedRange<Int> = 1...64
    public static let maximumNameBytes = 255

    /// The attachment's id on the server, 1-64 bytes.
    public let id: [UInt8]
    /// The file's random AES-256-GCM STREAM key, 32 bytes.
    public let key: [UInt8]
    /// The ciphertext's size in bytes.
    public let size: UInt64
    /// The SHA-256 of the ciphertext.
    public let sha256: [UInt8]
    /// The file's name, at most 255 bytes of UTF-8 (may be empty).
    public let fileName: String

    /// - Throws: `EnvelopeFormatError.invalidField` when a field is outside its bounds.
    public init(id: [UInt8], key: [UInt8], size: UInt64, sha256: [UInt8], fileName: String) throws(EnvelopeFormatError) {
        guard Self.idBytes.contains(id.count) else { throw .invalidField(field: "the attachment id", reason: "\(id.count) bytes") }
        guard key.count == 32 else { throw .invalidField(field: "the attachment key", reason: "\(key.count) bytes, not 32") }
        guard sha256.count == 32 else { throw .invalidField(field: "the attachment hash", reason: "\(sha256.count) bytes, not 32") }
        guard fileName.utf8.count <= Self.maximumNameBytes else {
            throw .invalidField(field: "the file name", reason: "\(fileName.utf8.count) bytes is over \(Self.maximumNameBytes)")
        }
        self.id = id
        self.key = key
        self.size = size
        self.sha256 = sha256
        self.fileName = fileName
    }

    /// u8 idLength ‖ id ‖ key32 ‖ u64 size ‖ sha256 ‖ u16 nameLength ‖ name.
    var encoded: [UInt8] {
        var out: [UInt8] = [UInt8(id.count)]
        out += id
        out += key
        out.appendBigEndian(size)
        out += sha256
        let name = Array(fileName.utf8)
        out.appendBigEndian(UInt16(name.count))
        out += name
        return out
    }

    init(encoded bytes: [UInt8]) throws(EnvelopeFormatError) {
        var reader = EnvelopeByteReader(bytes)
        let idLength = Int(try reader.u8("the attachment id's length"))
        let id = try reader.take(idLength, "the attachment id")
        let key = try reader.take(32, "the attachment key")
        let size = try reader.u64("the attachment size")
        let hash = try reader.take(32, "the attachment hash")
        let nameLength = Int(try reader.u16("the file name's length"))
        let name = try reader.take(nameLength, "the file name")
        try reader.finish()
        guard let fileName = String(validating: name, as: UTF8.self) else {
            throw .invalidField(field: "the file name", reason: "it is not UTF-8")
        }
        try self.init(id: id, key: key, size: size, sha256: hash, fileName: fileName)
    }
}
