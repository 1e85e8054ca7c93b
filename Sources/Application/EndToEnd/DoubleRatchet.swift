import Domain

/// The Double Ratchet (docs/protocol-v3.md §10.3), as in Signal's specification, over the
/// crypto port. Operations work on a copy of the state and write it back only on success, so
/// a rejected message leaves the session exactly as it was.
public struct DoubleRatchet: Sendable {
    public static let rootInfo = Array("Sealpost Ratchet v1".utf8)
    public static let messageKeysInfo = Array("Sealpost Message Keys v1".utf8)
    /// At most this many message keys are skipped in one chain by one message.
    public static let maximumSkipPerChain: UInt32 = 1_000
    /// At most this many skipped message keys are kept in all.
    public static let maximumSkippedKeys = 2_000
    /// A skipped message key expires after 30 days (milliseconds).
    public static let skippedKeyLifetime: UInt64 = 30 * 24 * 3_600 * 1_000
    static let retiredKeysKept = 64

    let crypto: any EndToEndCrypto

    public init(crypto: any EndToEndCrypto) {
        self.crypto = crypto
    }

    /// The initiator's state: the responder's signed prekey is its first ratchet key;
    /// `sendingPrivateKey` is fresh random bytes.
    public func initiator(sharedSecret: [UInt8], remoteRatchetKey: AgreementPublicKey,
                          sendingPrivateKey: [UInt8]) throws(CryptoError) -> RatchetState {
        let publicKey = try crypto.agreementPublicKey(privateKey: sendingPrivateKey)
        let (root, chain) = try kdfRK(sharedSecret, try crypto.sharedSecret(privateKey: sendingPrivateKey, peer: remoteRatchetKey))
        return RatchetState(rootKey: root, sendingPrivateKey: sendingPrivateKey, sendingPublicKey: publicKey.bytes,
                            receivingKey: remoteRatchetKey.bytes, sendingChainKey: chain, receivingChainKey: nil,
                            sendCount: 0, receiveCount: 0, previousSendCount: 0, skipped: [], retiredReceivingKeys: [])
    }

    /// The responder's state: its signed prekey is its first ratchet key pair.
    public func responder(sharedSecret: [UInt8], signedPrekeyPrivateKey: [UInt8]) throws(CryptoError) -> RatchetState {
        let publicKey = try crypto.agreementPublicKey(privateKey: signedPrekeyPrivateKey)
        return RatchetState(rootKey: sharedSecret, sendingPrivateKey: signedPrekeyPrivateKey, sendingPublicKey: publicKey.bytes,
                            receivingKey: nil, sendingChainKey: nil, receivingChainKey: nil,
                            sendCount: 0, receiveCount: 0, previousSendCount: 0, skipped: [], retiredReceivingKeys: [])
    }

    /// Encrypts `plaintext` with the next sending message key, under `associatedData ‖ header`.
    ///
    /// - Throws: `EndToEndError.noSession` when there is no sending chain yet (a responder
    ///   that has not received); `.crypto` when the library fails.
    public func encrypt(_ plaintext: [UInt8], associatedData: [UInt8], state: inout RatchetState,
                        peer: AccountID) throws(EndToEndError) -> (header: RatchetHeader, ciphertext: [UInt8]) {
        guard let chainKey = state.sendingChainKey, state.sendCount < UInt32.max else { throw .noSession(peer) }
        do {
            let (messageKey, nextChainKey) = try kdfCK(chainKey)
            let header = RatchetHeader(ratchetKey: try AgreementPublicKey(bytes: state.sendingPublicKey),
                                       previousChainLength: state.previousSendCount, messageNumber: state.sendCount)
            let ciphertext = try seal(plaintext, messageKey: messageKey, associatedData: associatedData + header.encoded)
            state.sendingChainKey = nextChainKey
            state.sendCount += 1
            return (header, ciphertext)
        } catch let error as CryptoError {
            throw .crypto(error)
        } catch {
            throw .crypto(.invalidKey("\(error)"))
        }
    }

    /// Decrypts a message, ratcheting and skipping as its header requires.
    ///
    /// - Parameter now: milliseconds since 1970 UTC, for the skipped keys' expiry.
    /// - Throws: `.duplicate` for a message whose key was already used;
    ///   `.tooManySkippedMessages` past the limits; `.decryptionFailed` for a bad tag.
    ///   On any error `state` is unchanged.
    public func decrypt(header: RatchetHeader, ciphertext: [UInt8], associatedData: [UInt8],
                        state: inout RatchetState, now: UInt64) throws(EndToEndError) -> [UInt8] {
        var next = state
        next.skipped.removeAll { now >= $0.storedAt && now - $0.storedAt >= Self.skippedKeyLifetime }
        let ad = associatedData + header.encoded
        let dh = header.ratchetKey.bytes
        do {
            if let index = next.skipped.firstIndex(where: { $0.messageNumber == header.messageNumber && crypto.constantTimeEqual($0.ratchetKey, dh) }) {
                let plaintext = try open(ciphertext, messageKey: next.skipped[index].messageKey, associatedData: ad)
                next.skipped.remove(at: index)
                state = next
                return plaintext
            }
            if next.retiredReceivingKeys.contains(where: { crypto.constantTimeEqual($0, dh) }) {
                throw EndToEndError.duplicate
            }
            if next.receivingKey.map({ crypto.constantTimeEqual($0, dh) }) != true {
                try skip(&next, until: header.previousChainLength, now: now)
                try ratchetStep(&next, remoteKey: header.ratchetKey)
            } else if header.messageNumber < next.receiveCount {
                throw EndToEndError.duplicate
            }
            try skip(&next, until: header.messageNumber, now: now)
            guard let chainKey = next.receivingChainKey else { throw EndToEndError.decryptionFailed("no receiving chain") }
            let (messageKey, nextChainKey) = try kdfCK(chainKey)
            next.receivingChainKey = nextChainKey
            next.receiveCount += 1
            let plaintext = try open(ciphertext, messageKey: messageKey, associatedData: ad)
            state = next
            return plaintext
        } catch let error as EndToEndError {
            throw error
        } catch let error as CryptoError {
            if case .decryptionFailed(let why) = error { throw .decryptionFailed(why) }
            throw .crypto(error)
        } catch {
            throw .crypto(.invalidKey("\(error)"))
        }
    }

    private func skip(_ state: inout RatchetState, until end: UInt32, now: UInt64) throws {
        guard let receivingKey = state.receivingKey, var chainKey = state.receivingChainKey, end > state.receiveCount else { return }
        let count = end - state.receiveCount
        guard count <= Self.maximumSkipPerChain else {
            throw EndToEndError.tooManySkippedMessages("\(count) in one chain, over \(Self.maximumSkipPerChain)")
        }
        guard state.skipped.count + Int(count) <= Self.maximumSkippedKeys else {
            throw EndToEndError.tooManySkippedMessages("\(state.skipped.count + Int(count)) kept, over \(Self.maximumSkippedKeys)")
        }
        while state.receiveCount < end {
            let (messageKey, nextChainKey) = try kdfCK(chainKey)
            state.skipped.append(.init(ratchetKey: receivingKey, messageNumber: state.receiveCount, messageKey: messageKey, storedAt: now))
            chainKey = nextChainKey
            state.receiveCount += 1
        }
        state.receivingChainKey = chainKey
    }

    private func ratchetStep(_ state: inout RatchetState, remoteKey: AgreementPublicKey) throws {
        if let old = state.receivingKey {
            state.retiredReceivingKeys.append(old)
            if state.retiredReceivingKeys.count > Self.retiredKeysKept { state.retiredReceivingKeys.removeFirst() }
        }
        state.previousSendCount = state.sendCount
        state.sendCount = 0
        state.receiveCount = 0
        state.receivingKey = remoteKey.bytes
        let (root, receivingChain) = try kdfRK(state.rootKey, try crypto.sharedSecret(privateKey: state.sendingPrivateKey, peer: remoteKey))
        let privateKey = try crypto.randomBytes(32)
        let (nextRoot, sendingChain) = try kdfRK(root, try crypto.sharedSecret(privateKey: privateKey, peer: remoteKey))
        state.rootKey = nextRoot
        state.receivingChainKey = receivingChain
        state.sendingChainKey = sendingChain
        state.sendingPrivateKey = privateKey
        state.sendingPublicKey = try crypto.agreementPublicKey(privateKey: privateKey).bytes
    }

    /// KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output, info = "Sealpost Ratchet v1", 64).
    func kdfRK(_ rootKey: [UInt8], _ dhOutput: [UInt8]) throws(CryptoError) -> (rootKey: [UInt8], chainKey: [UInt8]) {
        let out = try crypto.hkdfSHA256(inputKey: dhOutput, salt: rootKey, info: Self.rootInfo, outputCount: 64)
        return (Array(out[0..<32]), Array(out[32..<64]))
    }

    /// KDF_CK: HMAC-SHA256(ck, 0x01) is the message key, HMAC-SHA256(ck, 0x02) the next chain key.
    func kdfCK(_ chainKey: [UInt8]) throws(CryptoError) -> (messageKey: [UInt8], chainKey: [UInt8]) {
        (try crypto.hmacSHA256(key: chainKey, message: [0x01]), try crypto.hmacSHA256(key: chainKey, message: [0x02]))
    }

    /// The AES-256-GCM key and nonce of a message key.
    func messageKeys(_ messageKey: [UInt8]) throws(CryptoError) -> (key: [UInt8], nonce: [UInt8]) {
        let out = try crypto.hkdfSHA256(inputKey: messageKey, salt: [UInt8](repeating: 0, count: 32), info: Self.messageKeysInfo, outputCount: 44)
        return (Array(out[0..<32]), Array(out[32..<44]))
    }

    private func seal(_ plaintext: [UInt8], messageKey: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        let (key, nonce) = try messageKeys(messageKey)
        return try crypto.sealAESGCM(key: key, nonce: nonce, plaintext: plaintext, associatedData: associatedData)
    }

    private func open(_ ciphertext: [UInt8], messageKey: [UInt8], associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        let (key, nonce) = try messageKeys(messageKey)
        return try crypto.openAESGCM(key: key, nonce: nonce, ciphertext: ciphertext, associatedData: associatedData)
    }
}
