/// An end-to-end envelope (docs/protocol-v3.md §10.4): what travels as the opaque `envelope`
/// bytes of SEND and DELIVERY. Its sender's identity key signs every byte before the
/// signature; the ciphertext is the Double Ratchet's AES-256-GCM output.
///
/// `init(bytes:)` is the one strict parser (every length checked, nothing left over); it
/// checks the format only, not the signature (that needs the sender's key).
public struct SealedEnvelope: Hashable, Sendable {
    /// The format version this code writes and reads.
    public static let version: UInt8 = 1
    /// The ciphertext's bounds: the 16-byte tag at least, 16 MiB at most.
    public static let ciphertextBytes: ClosedRange<Int> = 16...(1 << 24)

    /// A prekey message (the first of a session, with its X3DH part) or a normal one.
    public enum Kind: UInt8, Sendable {
        case prekey = 1
        case normal = 2
    }

    public let sender: AccountID
    public let recipient: AccountID
    /// Present exactly when this is a prekey message.
    public let prekeyPart: PrekeyMessagePart?
    public let header: RatchetHeader
    /// AES-256-GCM ciphertext ‖ tag.
    public let ciphertext: [UInt8]
    public let signature: Signature

    public var kind: Kind { prekeyPart == nil ? .normal : .prekey }

    public init(sender: AccountID, recipient: AccountID, prekeyPart: PrekeyMessagePart?, header: RatchetHeader,
                ciphertext: [UInt8], signature: Signature) {
        self.sender = sender
        self.recipient = recipient
        self.prekeyPart = prekeyPart
        self.header = header
        self.ciphertext = ciphertext
        self.signature = signature
    }

    /// Every byte before the signature, as encoded.
    public static func unsignedBytes(sender: AccountID, recipient: AccountID, prekeyPart: PrekeyMessagePart?,
                                     header: RatchetHeader, ciphertext: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(300 + ciphertext.count)
        out.append(version)
        out.append(prekeyPart == nil ? Kind.normal.rawValue : Kind.prekey.rawValue)
        out += sender.bytes
        out += recipient.bytes
        prekeyPart?.encode(into: &out)
        out += header.encoded
        out.appendBigEndian(UInt32(ciphertext.count))
        out += ciphertext
        return out
    }

    /// The bytes the sender signs: the context `Sealpost v3 envelope`, 0x00, then every byte
    /// of the envelope before the signature.
    public var signedBytes: [UInt8] {
        SignedStatement.envelope(unsignedBytes: Self.unsignedBytes(
            sender: sender, recipient: recipient, prekeyPart: prekeyPart, header: header, ciphertext: ciphertext))
    }

    /// The envelope's bytes.
    public var encoded: [UInt8] {
        Self.unsignedBytes(sender: sender, recipient: recipient, prekeyPart: prekeyPart, header: header, ciphertext: ciphertext)
            + signature.bytes
    }

    /// Parses an envelope strictly.
    ///
    /// - Throws: `EnvelopeFormatError` for anything but exactly one well-formed envelope.
    public init(bytes: [UInt8]) throws(EnvelopeFormatError) {
        var reader = EnvelopeByteReader(bytes)
        let version = try reader.u8("the version")
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let kindByte = try reader.u8("the kind")
        guard let kind = Kind(rawValue: kindByte) else {
            throw .invalidField(field: "the kind", reason: "\(kindByte) is neither 1 (prekey) nor 2 (message)")
        }
        sender = try reader.account("the sender")
        recipient = try reader.account("the recipient")
        prekeyPart = kind == .prekey ? try PrekeyMessagePart(reading: &reader) : nil
        header = try RatchetHeader(reading: &reader)
        let length = Int(try reader.u32("the ciphertext's length"))
        guard Self.ciphertextBytes.contains(length) else {
            throw .invalidField(field: "the ciphertext's length", reason: "\(length) is outside \(Self.ciphertextBytes)")
        }
        ciphertext = try reader.take(length, "the ciphertext")
        signature = try reader.signature("the signature")
        try reader.finish()
    }
}
