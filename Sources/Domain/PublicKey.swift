/// A client's public key as it travels on the wire: 160 opaque bytes.
///
/// The legacy suite puts an RSA-1024 X.509 SubjectPublicKeyInfo DER here (docs/protocol-v2.md
/// §9.1); the server stores and returns it without reading it.
public struct PublicKey: Hashable, Sendable {
    /// The size of the field on the wire.
    public static let byteCount = 160

    /// The 160 bytes.
    public let bytes: [UInt8]

    /// Accepts exactly 160 bytes.
    public init(bytes: [UInt8]) throws(DomainError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidPublicKey("a public key is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }
}
