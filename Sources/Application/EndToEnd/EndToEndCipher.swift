import Domain

/// The client's end-to-end use case (docs/protocol-v3.md §10): starts sessions with X3DH,
/// seals content into signed envelopes and opens them, over the crypto port. Pure: it takes
/// and returns sessions as values and touches no storage; the caller persists what
/// `OpenedEnvelope` and `seal` give back.
public struct EndToEndCipher: Sendable {
    public let identity: LocalIdentity
    let crypto: any EndToEndCrypto

    public init(identity: LocalIdentity, crypto: any EndToEndCrypto) {
        self.identity = identity
        self.crypto = crypto
    }

    /// Starts a session with a bundle's owner: checks its signatures (and, when this client
    /// already knows the account's identity, that it is the same), then runs X3DH.
    ///
    /// - Throws: `.invalidPrekeySignature`, `.identityChanged`, `.crypto`.
    public func startSession(with bundle: PrekeyBundle, knownIdentity: IdentityKeys? = nil) throws(EndToEndError) -> EndToEndSession {
        if let knownIdentity, knownIdentity != bundle.identity { throw .identityChanged(bundle.account) }
        do {
            let ephemeral = try crypto.randomBytes(32)
            let initiation = try X3DH(crypto: crypto).initiate(from: identity, to: bundle, ephemeralPrivateKey: ephemeral)
            let ratchet = try DoubleRatchet(crypto: crypto).initiator(
                sharedSecret: initiation.sharedSecret, remoteRatchetKey: bundle.signedPrekey.publicKey, sendingPrivateKey: try crypto.randomBytes(32))
            return EndToEndSession(local: identity.account, remote: bundle.account, remoteIdentity: bundle.identity,
                                   associatedData: initiation.associatedData, ratchet: ratchet,
                                   pendingPrekeyPart: initiation.prekeyPart, initiatingEphemeralKey: nil)
        } catch let error as EndToEndError {
            throw error
        } catch let error as CryptoError {
            throw .crypto(error)
        } catch {
            throw .crypto(.invalidKey("\(error)"))
        }
    }

    /// Seals `content` for the session's peer: pads it, encrypts it with the next message key,
    /// and signs the envelope. `session` advances; persist it before sending the bytes.
    public func seal(_ content: MessageContent, session: inout EndToEndSession) throws(EndToEndError) -> [UInt8] {
        var next = session
        let (header, ciphertext) = try DoubleRatchet(crypto: crypto).encrypt(
            content.padded, associatedData: next.associatedData, state: &next.ratchet, peer: next.remote)
        let part: PrekeyMessagePart?
        do {
            part = try next.pendingPrekeyPart.map { bytes throws(EnvelopeFormatError) in try PrekeyMessagePart(encoded: bytes) }
        } catch {
            throw .malformed(error)
        }
        let unsigned = SealedEnvelope.unsignedBytes(sender: identity.account, recipient: next.remote, prekeyPart: part,
                                                    header: header, ciphertext: ciphertext)
        let signature: Signature
        do {
            signature = try crypto.sign(SignedStatement.envelope(unsignedBytes: unsigned), seed: identity.signingSeed)
        } catch {
            throw .crypto(error)
        }
        session = next
        return unsigned + signature.bytes
    }

    /// Opens an envelope: parses it strictly, checks it is addressed to this account by
    /// `authenticatedSender` (the DELIVERY's sender), verifies the signature, and only then
    /// decrypts. A prekey message with no session (or another session's ephemeral key) runs
    /// X3DH with the prekeys it names.
    ///
    /// - Parameters:
    ///   - session: the session with the sender, if any.
    ///   - knownIdentity: the identity keys trusted for the sender, if any (else trust on first use).
    ///   - now: milliseconds since 1970 UTC.
    /// - Throws: `EndToEndError`; `.duplicate` for a message already received (drop it, once).
    ///   Nothing is returned to persist on error: the session is unchanged.
    public func open(_ bytes: [UInt8], authenticatedSender: AccountID, session: EndToEndSession?,
                     prekeys: PrekeyPrivateKeys, knownIdentity: IdentityKeys? = nil, now: UInt64) throws(EndToEndError) -> OpenedEnvelope {
        let envelope: SealedEnvelope
        do { envelope = try SealedEnvelope(bytes: bytes) } catch { throw .malformed(error) }
        guard envelope.recipient == identity.account else { throw .misaddressed("it is for \(envelope.recipient)") }
        guard envelope.sender == authenticatedSender else {
            throw .misaddressed("it names \(envelope.sender) as its sender, but \(authenticatedSender) sent it")
        }
        let x3dh = X3DH(crypto: crypto)
        var working: EndToEndSession
        var usedOneTimePrekey: UInt32?
        var began = false
        let trusted = session?.remoteIdentity ?? knownIdentity
        if let part = envelope.prekeyPart, session?.initiatingEphemeralKey.map({ crypto.constantTimeEqual($0, part.ephemeralKey.bytes) }) != true
            || session == nil {
            if let trusted, trusted != part.senderIdentity { throw .identityChanged(envelope.sender) }
            try x3dh.verifyIdentity(part.senderIdentity)
            guard crypto.isValid(envelope.signature, of: envelope.signedBytes, by: part.senderIdentity.signingKey) else { throw .badSignature }
            guard let signedPrekey = prekeys.signed[part.signedPrekeyID] else { throw .unknownPrekey("signed prekey \(part.signedPrekeyID)") }
            var oneTimePrekey: [UInt8]?
            if let id = part.oneTimePrekeyID {
                guard let key = prekeys.oneTime[id] else { throw .unknownPrekey("one-time prekey \(id) (used already?)") }
                oneTimePrekey = key
                usedOneTimePrekey = id
            }
            let (secret, ad) = try x3dh.respond(as: identity, to: part, from: envelope.sender,
                                                signedPrekeyPrivateKey: signedPrekey, oneTimePrekeyPrivateKey: oneTimePrekey)
            let ratchet: RatchetState
            do { ratchet = try DoubleRatchet(crypto: crypto).responder(sharedSecret: secret, signedPrekeyPrivateKey: signedPrekey) } catch { throw .crypto(error) }
            working = EndToEndSession(local: identity.account, remote: envelope.sender, remoteIdentity: part.senderIdentity,
                                      associatedData: ad, ratchet: ratchet, pendingPrekeyPart: nil, initiatingEphemeralKey: part.ephemeralKey)
            began = true
        } else {
            guard let session else { throw .noSession(envelope.sender) }
            guard session.remote == envelope.sender else { throw .misaddressed("the session is with \(session.remote)") }
            if let part = envelope.prekeyPart, part.senderIdentity != session.remoteIdentity { throw .identityChanged(envelope.sender) }
            guard crypto.isValid(envelope.signature, of: envelope.signedBytes, by: session.remoteIdentity.signingKey) else { throw .badSignature }
            working = session
        }
        let plaintext = try DoubleRatchet(crypto: crypto).decrypt(
            header: envelope.header, ciphertext: envelope.ciphertext, associatedData: working.associatedData,
            state: &working.ratchet, now: now)
        let content: MessageContent
        do { content = try MessageContent(padded: plaintext) } catch { throw .decryptionFailed("the content is malformed: \(error)") }
        // A reply proves the peer has the session: stop sending the prekey part.
        working.pendingPrekeyPart = nil
        return OpenedEnvelope(sender: envelope.sender, content: content, session: working,
                              usedOneTimePrekeyID: usedOneTimePrekey, beganSession: began)
    }
}
