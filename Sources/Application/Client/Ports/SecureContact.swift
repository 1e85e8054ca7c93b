import Domain

/// Another v3 account as this client knows it: its identity keys pinned on first use, whether
/// the user verified its safety number, and a different identity the server or the account
/// presented since, waiting for `trust`.
public struct SecureContact: Sendable, Hashable {
    public let account: AccountID
    public var name: String?
    /// The identity keys pinned for the account.
    public var identity: IdentityKeys
    /// Whether the user compared the safety number and marked it verified.
    public var verified: Bool
    /// Another identity seen for the account: nothing is sent to it until the user trusts it.
    public var changedIdentity: IdentityKeys?

    public init(account: AccountID, name: String?, identity: IdentityKeys, verified: Bool = false, changedIdentity: IdentityKeys? = nil) {
        self.account = account
        self.name = name
        self.identity = identity
        self.verified = verified
        self.changedIdentity = changedIdentity
    }
}

extension IdentityKeys {
    /// The keys as 128 bytes: signing key ‖ agreement key ‖ signature.
    public var storedBytes: [UInt8] { signingKey.bytes + agreementKey.bytes + agreementKeySignature.bytes }

    /// Reads `storedBytes` back; nil when they are not 128 bytes.
    public init?(storedBytes bytes: [UInt8]) {
        guard bytes.count == 128,
              let signing = try? SigningPublicKey(bytes: bytes[0..<32]),
              let agreement = try? AgreementPublicKey(bytes: bytes[32..<64]),
              let signature = try? Signature(bytes: bytes[64..<128])
        else { return nil }
        self.init(signingKey: signing, agreementKey: agreement, agreementKeySignature: signature)
    }
}
