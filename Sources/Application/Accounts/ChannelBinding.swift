/// What binds a signature to one connection with one server (docs/protocol-v3.md §1, §4): the
/// HELLO nonce the server drew for the connection, and the SHA-256 of the server's own
/// certificate. A signature made on another connection, or through another server's
/// certificate, does not verify against it.
public struct ChannelBinding: Sendable, Hashable {
    public let nonce: [UInt8]
    public let certificateHash: [UInt8]

    public init(nonce: [UInt8], certificateHash: [UInt8]) {
        self.nonce = nonce
        self.certificateHash = certificateHash
    }
}
