/// A client's private identity key as the legacy suite keeps it: PKCS#8 PrivateKeyInfo DER
/// (docs/protocol-v2.md §9.1).
///
/// The domain checks only the outer DER framing (one SEQUENCE whose length matches the bytes);
/// a crypto adapter checks the contents. `description` never shows key material.
public struct PrivateKey: Hashable, Sendable, CustomStringConvertible {
    /// The DER bytes, exactly one SEQUENCE with nothing after it.
    public let der: [UInt8]

    /// Accepts bytes that are exactly one DER SEQUENCE.
    ///
    /// - Throws: `IdentityFileError.malformedKey` when the framing is wrong or bytes follow it.
    public init(der: [UInt8]) throws(IdentityFileError) {
        let length = try Self.encodedLength(ofDERPrefixOf: der)
        guard length == der.count else {
            throw .malformedKey("the key's DER header declares \(length) bytes but \(der.count) were given")
        }
        self.der = der
    }

    public var description: String { "PrivateKey(\(der.count) bytes of PKCS#8 DER)" }

    /// The total size (header and contents) of the DER SEQUENCE that starts `bytes`.
    ///
    /// This is how the size of a key padded with zero bytes (as in me.info) is recovered.
    ///
    /// - Throws: `IdentityFileError.malformedKey` when `bytes` does not start with a SEQUENCE
    ///   header, the length is not in DER form, or the SEQUENCE runs past the end of `bytes`.
    public static func encodedLength(ofDERPrefixOf bytes: [UInt8]) throws(IdentityFileError) -> Int {
        guard bytes.count >= 2 else {
            throw .malformedKey("the key is \(bytes.count) bytes, too short for a DER header")
        }
        guard bytes[0] == 0x30 else {
            throw .malformedKey("the key does not start with a DER SEQUENCE (first byte 0x\(hexByte(bytes[0])))")
        }
        let first = bytes[1]
        let headerSize: Int
        let contentSize: Int
        if first < 0x80 {
            headerSize = 2
            contentSize = Int(first)
        } else {
            // Long form: the low bits say how many length bytes follow. Four is far more than
            // any key needs and keeps the arithmetic safe.
            let lengthBytes = Int(first & 0x7f)
            guard (1...4).contains(lengthBytes) else {
                throw .malformedKey("the key's DER length uses \(lengthBytes) bytes, expected 1 to 4")
            }
            guard bytes.count >= 2 + lengthBytes else {
                throw .malformedKey("the key's DER header is cut short")
            }
            var size = 0
            for byte in bytes[2..<(2 + lengthBytes)] {
                size = size << 8 | Int(byte)
            }
            guard size >= 0x80, lengthBytes == 1 || bytes[2] != 0 else {
                throw .malformedKey("the key's DER length is not in its shortest form")
            }
            headerSize = 2 + lengthBytes
            contentSize = size
        }
        let total = headerSize + contentSize
        guard total <= bytes.count else {
            throw .malformedKey("the key's DER header declares \(total) bytes but only \(bytes.count) are present")
        }
        return total
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
    }
}
