/// A freshly generated identity key: the public half for the wire, the private half for me.info.
public struct IdentityKeyPair: Hashable, Sendable {
    /// The 160-byte X.509 SubjectPublicKeyInfo DER sent at registration.
    public let publicKey: PublicKey
    /// The PKCS#8 DER kept by the client.
    public let privateKey: PrivateKey

    public init(publicKey: PublicKey, privateKey: PrivateKey) {
        self.publicKey = publicKey
        self.privateKey = privateKey
    }
}
