import Adapters
import Application
import Domain

/// The v3 client's cryptography on one core (`sealpost bench --client-crypto`), through the
/// same use cases the client runs: 100-byte texts sealed into signed envelopes and opened
/// (`EndToEndCipher`), X3DH handshakes on both sides, and the attachments' STREAM both ways
/// in 1 MiB pieces into one reused buffer, as `send-file` and the download do.
public struct ClientCryptoBench: Sendable {
    /// How long each figure is measured for, in seconds.
    public var seconds: Double
    /// The attachment stream's size, in MiB, for each direction.
    public var attachmentMib: Int
    /// The text's size in bytes.
    public var textBytes = 100
    /// The piece size the attachment stream is fed in (send-file reads 1 MiB at a time).
    public var pieceBytes = 1 << 20

    public init(seconds: Double, attachmentMib: Int) {
        self.seconds = seconds
        self.attachmentMib = attachmentMib
    }

    /// Runs every measurement, printing a line each and a `summary:` line; returns whether
    /// everything sealed opened again to the same content.
    public func run() throws -> Bool {
        let crypto = OpenSSLEndToEndCrypto()
        let alice = try Self.party(crypto: crypto, id: 0xA1)
        let bob = try Self.party(crypto: crypto, id: 0xB0)
        let text = MessageContent.text(String(repeating: "x", count: textBytes))
        var intact = true

        // A session both ways, as after a first message and its reply: no prekey part left.
        let bundle = try bob.bundle()
        var aliceSession = try alice.cipher.startSession(with: bundle)
        let hello = try alice.cipher.seal(text, session: &aliceSession)
        var bobSession = try bob.cipher.open(hello, authenticatedSender: alice.account, session: nil,
                                             prekeys: bob.prekeys, now: Self.now()).session
        let reply = try bob.cipher.seal(text, session: &bobSession)
        aliceSession = try alice.cipher.open(reply, authenticatedSender: bob.account, session: aliceSession,
                                             prekeys: alice.prekeys, now: Self.now()).session

        // Seal for `seconds`, keeping every envelope; then open them all, in order.
        var envelopes: [[UInt8]] = []
        let seals = try Self.repeatFor(seconds) {
            envelopes.append(try alice.cipher.seal(text, session: &aliceSession))
        }
        let openWatch = BenchStopwatch()
        for envelope in envelopes {
            let opened = try bob.cipher.open(envelope, authenticatedSender: alice.account, session: bobSession,
                                             prekeys: bob.prekeys, now: Self.now())
            bobSession = opened.session
            if opened.content != text { intact = false }
        }
        let opens = BenchSpan(count: Double(envelopes.count), openWatch)
        let envelopeBytes = envelopes.first?.count ?? 0
        print("client-crypto: seal \(textBytes) B texts (ratchet step, AES-256-GCM, Ed25519-signed envelope of \(envelopeBytes) B): \(envelopes.count) in \(benchFormat(seals.wall, 2))s = \(seals.rates())")
        print("client-crypto: open them (parse, Ed25519 verify, ratchet step, AES-256-GCM): \(envelopes.count) in \(benchFormat(opens.wall, 2))s = \(opens.rates())")
        envelopes = []

        // X3DH: the initiator checks the bundle, agrees and seals its first (prekey) message;
        // the responder checks that envelope, agrees with the prekeys it names and opens it.
        var first: [[UInt8]] = []
        let initiates = try Self.repeatFor(seconds) {
            var session = try alice.cipher.startSession(with: bundle)
            first.append(try alice.cipher.seal(text, session: &session))
        }
        let respondWatch = BenchStopwatch()
        for envelope in first {
            let opened = try bob.cipher.open(envelope, authenticatedSender: alice.account, session: nil,
                                             prekeys: bob.prekeys, now: Self.now())
            if opened.content != text || !opened.beganSession { intact = false }
        }
        let responds = BenchSpan(count: Double(first.count), respondWatch)
        print("client-crypto: x3dh initiate (bundle signatures checked, 4 DH, first envelope sealed): \(first.count) in \(benchFormat(initiates.wall, 2))s = \(initiates.rates())")
        print("client-crypto: x3dh respond (envelope verified, 4 DH, first message opened): \(first.count) in \(benchFormat(responds.wall, 2))s = \(responds.rates())")
        first = []

        let stream = try AttachmentStreamBench(mebibytes: attachmentMib, pieceBytes: pieceBytes, crypto: crypto).run()
        if !stream.intact { intact = false }
        print("client-crypto: attachment STREAM encrypt \(attachmentMib) MiB (AES-256-GCM, 64 KiB chunks, \(pieceBytes >> 10) KiB pieces, one reused buffer): \(benchFormat(stream.encrypt.wall, 2))s = \(stream.encrypt.rates(" MiB/s"))")
        print("client-crypto: attachment STREAM decrypt \(attachmentMib) MiB (same pieces, into one reused buffer): \(benchFormat(stream.decrypt.wall, 2))s = \(stream.decrypt.rates(" MiB/s"))")
        print("client-crypto: attachment STREAM encrypt + SHA-256 of the ciphertext (what send-file does per piece): \(stream.hashedEncrypt.rates(" MiB/s"))")
        let figures: [(String, BenchSpan)] = [
            ("seals", seals), ("opens", opens), ("x3dh_initiate", initiates), ("x3dh_respond", responds),
            ("stream_encrypt_mib", stream.encrypt), ("stream_decrypt_mib", stream.decrypt), ("stream_encrypt_sha256_mib", stream.hashedEncrypt),
        ]
        let fields = figures.map { name, span in
            "\(name)_per_s \(benchFormat(span.perWallSecond, 0)) \(name)_per_cpu_s \(benchFormat(span.perCPUSecond, 0))"
        }
        print("summary: \(fields.joined(separator: " ")) intact \(intact)")
        return intact
    }

    /// Runs `body` until `seconds` of wall time have passed (at least once).
    private static func repeatFor(_ seconds: Double, _ body: () throws -> Void) throws -> BenchSpan {
        let watch = BenchStopwatch()
        var count = 0
        repeat {
            try body()
            count += 1
        } while watch.wall < seconds
        return BenchSpan(count: Double(count), watch)
    }

    static func now() -> UInt64 { benchMicros() / 1000 }

    /// One side: its account, keys, cipher and prekeys' private halves.
    struct Party {
        let account: AccountID
        let keys: AccountKeys
        let cipher: EndToEndCipher
        let prekeys: PrekeyPrivateKeys

        func bundle() throws -> PrekeyBundle {
            PrekeyBundle(account: account, identity: keys.identity, signedPrekey: try keys.publicSignedPrekey(),
                         oneTimePrekey: try keys.publicOneTimePrekeys().first)
        }
    }

    static func party(crypto: OpenSSLEndToEndCrypto, id: UInt8) throws -> Party {
        let account = AccountID(bytes: [UInt8](repeating: id, count: AccountID.byteCount))!
        let keys = try AccountKeys.generate(signedPrekeyID: 1, oneTimePrekeyIDs: 1...1)
        let local = try LocalIdentity(account: account, signingSeed: keys.identitySeed,
                                      agreementPrivateKey: keys.identityAgreementPrivateKey, crypto: crypto)
        var prekeys = PrekeyPrivateKeys(signed: [keys.signedPrekey.id: keys.signedPrekey.privateKey])
        for prekey in keys.oneTimePrekeys { prekeys.oneTime[prekey.id] = prekey.privateKey }
        return Party(account: account, keys: keys, cipher: EndToEndCipher(identity: local, crypto: crypto), prekeys: prekeys)
    }
}
