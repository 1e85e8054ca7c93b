/// The X3DH part of a prekey message (docs/protocol-v3.md §10.4): the sender's identity keys,
/// its ephemeral key, and the recipient's prekeys it used.
public struct PrekeyMessagePart: Hashable, Sendable {
    /// The sender's identity keys, the X25519 key signed by the Ed25519 key.
    public let senderIdentity: IdentityKeys
    /// The sender's ephemeral X25519 key, EK.
    public let ephemeralKey: AgreementPublicKey
    public let signedPrekeyID: UInt32
    /// The one-time prekey used, or `nil` when the bundle had none.
    public let oneTimePrekeyID: UInt32?

    public init(senderIdentity: IdentityKeys, ephemeralKey: AgreementPublicKey, signedPrekeyID: UInt32, oneTimePrekeyID: UInt32?) {
        self.senderIdentity = senderIdentity
        self.ephemeralKey = ephemeralKey
        self.signedPrekeyID = signedPrekeyID
        self.oneTimePrekeyID = oneTimePrekeyID
    }

    /// The part's bytes, as in the envelope.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Parses exactly one part, as `encoded` gives it.
    public init(encoded bytes: [UInt8]) throws(EnvelopeFormatError) {
        var reader = EnvelopeByteReader(bytes)
        try self.init(reading: &reader)
        try reader.finish()
    }

    func encode(into out: inout [UInt8]) {
        out += senderIdentity.signingKey.bytes
        out += senderIdentity.agreementKey.bytes
        out += senderIdentity.agreementKeySignature.bytes
        out += ephemeralKey.bytes
        out.appendBigEndian(signedPrekeyID)
        if let oneTimePrekeyID {
            out.append(1)
            out.appendBigEndian(oneTimePrekeyID)
        } else {
            out.append(0)
        }
    }

    init(reading reader: inout EnvelopeByteReader) throws(EnvelopeFormatError) {
        let signingKey = try reader.signingKey("the sender's identity signing key")
        let agreementKey = try reader.agreementKey("the sender's identity key")
        let signature = try reader.signature("the identity key's signature")
        senderIdentity = IdentityKeys(signingKey: signingKey, agreementKey: agreementKey, agreementKeySignature: signature)
        ephemeralKey = try reader.agreementKey("the ephemeral key")
        signedPrekeyID = try reader.u32("the signed prekey id")
        switch try reader.u8("the one-time prekey flag") {
        case 0: oneTimePrekeyID = nil
        case 1: oneTimePrekeyID = try reader.u32("the one-time prekey id")
        case let flag: throw .invalidField(field: "the one-time prekey flag", reason: "\(flag) is neither 0 nor 1")
        }
    }
}
