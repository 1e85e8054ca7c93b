/// Who a client is, as it remembers itself between runs: its name, the id the server gave
/// it, and its private identity key (the public key is derived from the private one).
///
/// The original client keeps this in `me.info`; see `ClientIdentity+MeInfo.swift`.
public struct ClientIdentity: Hashable, Sendable {
    /// The size of the buffer the original client base64-encodes on line 3 of me.info:
    /// the key's DER followed by zero bytes.
    public static let keyBufferSize = 1000

    /// The registered name.
    public let name: ClientName
    /// The id the server issued at registration.
    public let id: ClientID
    /// The private identity key, PKCS#8 DER.
    public let privateKey: PrivateKey

    /// Builds an identity.
    ///
    /// - Throws: `IdentityFileError.keyTooLarge` when the key's DER exceeds
    ///   `keyBufferSize`, since such an identity cannot be written as me.info.
    public init(name: ClientName, id: ClientID, privateKey: PrivateKey) throws(IdentityFileError) {
        guard privateKey.der.count <= Self.keyBufferSize else {
            throw .keyTooLarge(privateKey.der.count)
        }
        self.name = name
        self.id = id
        self.privateKey = privateKey
    }
}
