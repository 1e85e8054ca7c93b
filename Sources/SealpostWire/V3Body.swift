import Domain
import NIOCore

/// Reads a body's fields in order, strictly (docs/protocol-v3.md §2): every read checks what
/// is left first, and `finish()` refuses bytes after the last field.
public struct V3BodyReader {
    private var buffer: ByteBuffer

    public init(_ body: ByteBuffer) {
        buffer = body
    }

    private mutating func integer<T: FixedWidthInteger>(_ field: String, as: T.Type = T.self) throws -> T {
        guard let value = buffer.readInteger(as: T.self) else {
            throw V3WireError.truncated(field: field, needed: MemoryLayout<T>.size - buffer.readableBytes)
        }
        return value
    }

    public mutating func u8(_ field: String) throws -> UInt8 { try integer(field) }
    public mutating func u16(_ field: String) throws -> UInt16 { try integer(field) }
    public mutating func u32(_ field: String) throws -> UInt32 { try integer(field) }
    public mutating func u64(_ field: String) throws -> UInt64 { try integer(field) }

    /// Exactly `count` bytes.
    public mutating func fixed(_ count: Int, _ field: String) throws -> [UInt8] {
        guard let bytes = buffer.readBytes(length: count) else {
            throw V3WireError.truncated(field: field, needed: count - buffer.readableBytes)
        }
        return bytes
    }

    /// A `bytes16`.
    public mutating func bytes16(_ field: String) throws -> [UInt8] {
        try fixed(Int(try u16(field + " length")), field)
    }

    /// A `bytes32` of at most `limit` bytes (checked before anything is read), as a slice of
    /// the frame: no copy.
    public mutating func bytes32(_ field: String, limit: UInt32) throws -> ByteBuffer {
        let length = try u32(field + " length")
        guard length <= limit else { throw V3WireError.invalidField("\(field) of \(length) bytes is over the limit of \(limit)") }
        guard let slice = buffer.readSlice(length: Int(length)) else {
            throw V3WireError.truncated(field: field, needed: Int(length) - buffer.readableBytes)
        }
        return slice
    }

    /// A `string16`, which must be UTF-8.
    public mutating func string16(_ field: String) throws -> String {
        let bytes = try bytes16(field)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw V3WireError.invalidField("\(field) is not valid UTF-8")
        }
        return text
    }

    public mutating func account(_ field: String) throws -> AccountID {
        AccountID(bytes: try fixed(AccountID.byteCount, field))!
    }

    public mutating func attachment(_ field: String) throws -> AttachmentID {
        AttachmentID(bytes: try fixed(AttachmentID.byteCount, field))!
    }

    public mutating func signingKey(_ field: String) throws -> SigningPublicKey {
        try SigningPublicKey(bytes: try fixed(SigningPublicKey.byteCount, field))
    }

    public mutating func agreementKey(_ field: String) throws -> AgreementPublicKey {
        try AgreementPublicKey(bytes: try fixed(AgreementPublicKey.byteCount, field))
    }

    public mutating func signature(_ field: String) throws -> Signature {
        try Signature(bytes: try fixed(Signature.byteCount, field))
    }

    public mutating func prekey(_ field: String) throws -> Prekey {
        Prekey(id: try u32(field + " id"), publicKey: try agreementKey(field + " key"), signature: try signature(field + " signature"))
    }

    public mutating func identity(_ field: String) throws -> IdentityKeys {
        IdentityKeys(signingKey: try signingKey(field + " signing key"), agreementKey: try agreementKey(field + " agreement key"),
                     agreementKeySignature: try signature(field + " agreement key signature"))
    }

    /// The body must end here.
    public func finish() throws {
        guard buffer.readableBytes == 0 else { throw V3WireError.trailingBytes(buffer.readableBytes) }
    }
}

/// Appends fields in the encoding of docs/protocol-v3.md §2.
extension ByteBuffer {
    public mutating func writeBytes16(_ bytes: some Collection<UInt8>) {
        writeInteger(UInt16(bytes.count))
        writeBytes(bytes)
    }

    public mutating func writeString16(_ text: String) {
        writeBytes16(Array(text.utf8))
    }

    public mutating func writeBytes32(_ bytes: ByteBuffer) {
        var bytes = bytes
        writeInteger(UInt32(bytes.readableBytes))
        writeBuffer(&bytes)
    }

    public mutating func writePrekey(_ prekey: Prekey) {
        writeInteger(prekey.id)
        writeBytes(prekey.publicKey.bytes)
        writeBytes(prekey.signature.bytes)
    }

    public mutating func writeIdentity(_ identity: IdentityKeys) {
        writeBytes(identity.signingKey.bytes)
        writeBytes(identity.agreementKey.bytes)
        writeBytes(identity.agreementKeySignature.bytes)
    }
}
