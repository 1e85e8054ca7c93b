import NIOSSL

/// A server's fingerprint (docs/protocol-v3.md §1): the SHA-256 of its certificate's DER
/// SubjectPublicKeyInfo, written as 64 lower-case hex digits. It names the key, so a renewed
/// certificate for the same key keeps it.
public struct ServerFingerprint: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a fingerprint is 32 bytes")
        self.bytes = bytes
    }

    /// Parses 64 hex digits, either case, optionally in pairs separated by `:`.
    public init?(hex text: String) {
        let digits = text.filter { $0 != ":" }
        guard digits.utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }

    /// The fingerprint of `certificate`'s public key.
    public init(of certificate: NIOSSLCertificate) throws {
        self.init(bytes: OpenSSLCertificates.sha256(try certificate.extractPublicKey().toSPKIBytes()))
    }

    /// 64 lower-case hex digits.
    public var hex: String { Self.hex(bytes) }
    public var description: String { hex }

    /// The channel binding `certHash` (§1, §4): the SHA-256 of the whole DER certificate.
    public static func certificateHash(of certificate: NIOSSLCertificate) throws -> [UInt8] {
        OpenSSLCertificates.sha256(try certificate.toDERBytes())
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
