/// A bounds-checked big-endian reader over bytes: every read checks the length first, so a
/// parser built on it cannot trap on any input.
struct EnvelopeByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int, _ field: String) throws(EnvelopeFormatError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw .truncated(field: field) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func u8(_ field: String) throws(EnvelopeFormatError) -> UInt8 {
        try take(1, field)[0]
    }

    mutating func u16(_ field: String) throws(EnvelopeFormatError) -> UInt16 {
        try take(2, field).reduce(0) { $0 << 8 | UInt16($1) }
    }

    mutating func u32(_ field: String) throws(EnvelopeFormatError) -> UInt32 {
        try take(4, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64(_ field: String) throws(EnvelopeFormatError) -> UInt64 {
        try take(8, field).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func agreementKey(_ field: String) throws(EnvelopeFormatError) -> AgreementPublicKey {
        let bytes = try take(AgreementPublicKey.byteCount, field)
        return try! AgreementPublicKey(bytes: bytes)
    }

    mutating func signingKey(_ field: String) throws(EnvelopeFormatError) -> SigningPublicKey {
        let bytes = try take(SigningPublicKey.byteCount, field)
        return try! SigningPublicKey(bytes: bytes)
    }

    mutating func signature(_ field: String) throws(EnvelopeFormatError) -> Signature {
        let bytes = try take(Signature.byteCount, field)
        return try! Signature(bytes: bytes)
    }

    mutating func account(_ field: String) throws(EnvelopeFormatError) -> AccountID {
        let bytes = try take(AccountID.byteCount, field)
        return AccountID(bytes: bytes)!
    }

    func finish() throws(EnvelopeFormatError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }
}

/// Big-endian appends for the encoders.
extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        for shift in stride(from: T.bitWidth - 8, through: 0, by: -8) {
            append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }
}
