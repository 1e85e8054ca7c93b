import Domain

/// One end-to-end session with one peer (docs/protocol-v3.md §10): whom it is with, the
/// identity keys trusted for them, X3DH's associated data and the Double Ratchet's state.
/// The client persists it (`Codable`, every field bytes or counters) after each message sent
/// or accepted.
public struct EndToEndSession: Codable, Sendable, Hashable {
    public var localAccount: [UInt8]
    public var remoteAccount: [UInt8]
    public var remoteSigningKey: [UInt8]
    public var remoteAgreementKey: [UInt8]
    public var remoteAgreementKeySignature: [UInt8]
    /// X3DH's AD (160 bytes), fixed for the session's life.
    public var associatedData: [UInt8]
    public var ratchet: RatchetState
    /// The initiator's prekey part (`PrekeyMessagePart.encoded`), sent with every message
    /// until the first reply arrives; nil afterwards and on the responder's side.
    public var pendingPrekeyPart: [UInt8]?
    /// On the responder's side, the ephemeral key of the prekey message that began it: a prekey
    /// message with the same key belongs to this session, another begins a new one.
    public var initiatingEphemeralKey: [UInt8]?

    /// The peer's account.
    public var remote: AccountID { AccountID(bytes: remoteAccount)! }

    /// The identity keys trusted for the peer.
    public var remoteIdentity: IdentityKeys {
        IdentityKeys(signingKey: try! SigningPublicKey(bytes: remoteSigningKey),
                     agreementKey: try! AgreementPublicKey(bytes: remoteAgreementKey),
                     agreementKeySignature: try! Signature(bytes: remoteAgreementKeySignature))
    }

    init(local: AccountID, remote: AccountID, remoteIdentity: IdentityKeys, associatedData: [UInt8], ratchet: RatchetState,
         pendingPrekeyPart: PrekeyMessagePart?, initiatingEphemeralKey: AgreementPublicKey?) {
        localAccount = local.bytes
        remoteAccount = remote.bytes
        remoteSigningKey = remoteIdentity.signingKey.bytes
        remoteAgreementKey = remoteIdentity.agreementKey.bytes
        remoteAgreementKeySignature = remoteIdentity.agreementKeySignature.bytes
        self.associatedData = associatedData
        self.ratchet = ratchet
        self.pendingPrekeyPart = pendingPrekeyPart?.encoded
        self.initiatingEphemeralKey = initiatingEphemeralKey?.bytes
    }

    /// Every field as stored (`EndToEndSessionEncoding`).
    init(localAccount: [UInt8], remoteAccount: [UInt8], remoteSigningKey: [UInt8], remoteAgreementKey: [UInt8],
         remoteAgreementKeySignature: [UInt8], associatedData: [UInt8], ratchet: RatchetState, pendingPrekeyPart: [UInt8]?,
         initiatingEphemeralKey: [UInt8]?) {
        self.localAccount = localAccount
        self.remoteAccount = remoteAccount
        self.remoteSigningKey = remoteSigningKey
        self.remoteAgreementKey = remoteAgreementKey
        self.remoteAgreementKeySignature = remoteAgreementKeySignature
        self.associatedData = associatedData
        self.ratchet = ratchet
        self.pendingPrekeyPart = pendingPrekeyPart
        self.initiatingEphemeralKey = initiatingEphemeralKey
    }
}
