import Adapters
import Domain
import NIOCore
import SealpostWire

/// The known-answer frames of docs/protocol-v3.md, made from fixed keys. Each vector has the
/// codec's value and, laid out by hand field by field from the document (not by the codec),
/// the bytes it must encode to. `Tests/Fixtures/vectors/v3_frames.json` records both.
enum V3Vectors {
    // Fixed private keys: never used outside tests.
    static let aliceSeed = (0..<32).map { UInt8($0) }
    static let aliceDH = (0..<32).map { UInt8(0x20 + $0) }
    static let aliceSignedPrekey = (0..<32).map { UInt8(0x40 + $0) }
    static let aliceOneTime = [(0..<32).map { UInt8(0x60 + $0) }, (0..<32).map { UInt8(0x80 + $0) }]
    static let alice = AccountID(bytes: Array(repeating: 0x11, count: 16))!
    static let bob = AccountID(bytes: Array(repeating: 0x22, count: 16))!
    static let nonce = Array(repeating: UInt8(0xA5), count: 32)
    static let certificateHash = Array(repeating: UInt8(0xC3), count: 32)

    static func identity() throws -> IdentityKeys {
        let dh = try OpenSSLCurve25519.agreementPublicKey(privateKey: aliceDH)
        return IdentityKeys(signingKey: try OpenSSLCurve25519.signingPublicKey(seed: aliceSeed), agreementKey: dh,
                            agreementKeySignature: try OpenSSLCurve25519.sign(V3Signing.identityKey(dh), seed: aliceSeed))
    }

    static func prekey(id: UInt32, privateKey: [UInt8], signed: Bool) throws -> Prekey {
        let key = try OpenSSLCurve25519.agreementPublicKey(privateKey: privateKey)
        return Prekey(id: id, publicKey: key, signature: try OpenSSLCurve25519.sign(V3Signing.prekey(id: id, key: key, signed: signed), seed: aliceSeed))
    }

    static func registration() throws -> V3Registration {
        var registration = V3Registration(
            name: "alice", identity: try identity(), signedPrekey: try prekey(id: 7, privateKey: aliceSignedPrekey, signed: true),
            oneTimePrekeys: [try prekey(id: 100, privateKey: aliceOneTime[0], signed: false)],
            proof: try Signature(bytes: Array(repeating: 0, count: 64)))
        registration.proof = try OpenSSLCurve25519.sign(V3Signing.registration(registration, nonce: nonce, certificateHash: certificateHash), seed: aliceSeed)
        return registration
    }

    /// One vector: what it is, its bytes field by field.
    struct Vector {
        let name: String
        let fields: [(String, [UInt8])]
        /// The codec's encoding of the value.
        let encoded: [UInt8]
        var bytes: [UInt8] { fields.flatMap(\.1) }
    }

    // Hand layout helpers: plain byte arithmetic, independent of the codec.
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(v >> (56 - 8 * UInt64($0)) & 0xFF) } }
    static func str16(_ s: String) -> [UInt8] { be16(s.utf8.count) + Array(s.utf8) }
    static func prekeyFields(_ label: String, _ p: Prekey) -> [(String, [UInt8])] {
        [("\(label).id", be32(Int(p.id))), ("\(label).key", p.publicKey.bytes), ("\(label).signature", p.signature.bytes)]
    }
    static func identityFields(_ i: IdentityKeys) -> [(String, [UInt8])] {
        [("identitySigningKey", i.signingKey.bytes), ("identityDHKey", i.agreementKey.bytes), ("identityDHKeySignature", i.agreementKeySignature.bytes)]
    }

    /// Frame head by hand around `body`.
    static func frame(_ type: UInt8, _ requestID: Int, _ body: [(String, [UInt8])]) -> [(String, [UInt8])] {
        let length = 5 + body.reduce(0) { $0 + $1.1.count }
        return [("length", be32(length)), ("type", [type]), ("requestID", be32(requestID))] + body
    }

    static func request(_ name: String, _ request: V3Request, id: Int, _ body: [(String, [UInt8])]) -> Vector {
        var buffer = ByteBuffer()
        request.write(requestID: UInt32(id), into: &buffer)
        return Vector(name: name, fields: frame(request.type.rawValue, id, body), encoded: Array(buffer.readableBytesView))
    }

    static func server(_ name: String, _ message: V3ServerMessage, type: UInt8, id: Int, _ body: [(String, [UInt8])]) -> Vector {
        var buffer = ByteBuffer()
        message.write(into: &buffer)
        return Vector(name: name, fields: frame(type, id, body), encoded: Array(buffer.readableBytesView))
    }

    static func all() throws -> [Vector] {
        let registration = try registration()
        let identity = registration.identity
        let signed = registration.signedPrekey
        let spare = try prekey(id: 101, privateKey: aliceOneTime[1], signed: false)
        let authSignature = try OpenSSLCurve25519.sign(V3Signing.authentication(nonce: nonce, account: alice, certificateHash: certificateHash), seed: aliceSeed)
        let envelope: [UInt8] = Array("an opaque envelope".utf8)
        let attachment = AttachmentID(bytes: Array(repeating: 0x33, count: 16))!
        let chunk: [UInt8] = Array("ten bytes!".utf8)
        let bundle = PrekeyBundle(account: alice, identity: identity, signedPrekey: signed, oneTimePrekey: registration.oneTimePrekeys[0])
        let result = { (name: String, id: Int, value: V3Result, body: [(String, [UInt8])]) -> Vector in
            server(name, .result(requestID: UInt32(id), body: value.body()), type: 0x41, id: id, body)
        }
        return [
            server("HELLO", .hello(V3Hello(nonce: nonce)), type: 0x40, id: 0, [
                ("version", be16(3)), ("nonce", nonce), ("maxFrameBytes", be32(1_048_576)), ("maxEnvelopeBytes", be32(65_536)),
                ("maxInFlight", be16(256)), ("deliveryWindow", be16(256)), ("authTimeoutSeconds", be16(10)), ("idleTimeoutSeconds", be16(300)),
            ]),
            request("REGISTER", .register(registration), id: 1,
                    [("name", str16("alice"))] + identityFields(identity) + prekeyFields("signedPrekey", signed)
                    + [("count", be16(1))] + prekeyFields("oneTimePrekeys[0]", registration.oneTimePrekeys[0])
                    + [("proof", registration.proof.bytes)]),
            result("RESULT to REGISTER", 1, .registered(alice), [("account", alice.bytes)]),
            request("AUTHENTICATE", .authenticate(account: alice, signature: authSignature), id: 1,
                    [("account", alice.bytes), ("signature", authSignature.bytes)]),
            result("RESULT to AUTHENTICATE", 1, .authenticated(oneTimePrekeysLeft: 1), [("oneTimePrekeysLeft", be16(1))]),
            request("UPLOAD_PREKEYS", .uploadPrekeys([spare]), id: 2, [("count", be16(1))] + prekeyFields("prekeys[0]", spare)),
            result("RESULT to UPLOAD_PREKEYS", 2, .prekeysStored(2), [("stored", be16(2))]),
            request("COUNT_PREKEYS", .countPrekeys, id: 3, []),
            result("RESULT to COUNT_PREKEYS", 3, .prekeyCount(2), [("count", be16(2))]),
            request("REPLACE_SIGNED_PREKEY", .replaceSignedPrekey(signed), id: 4, prekeyFields("signedPrekey", signed)),
            result("RESULT to REPLACE_SIGNED_PREKEY", 4, .done, []),
            request("LOOKUP", .lookup(name: "alice"), id: 5, [("name", str16("alice"))]),
            result("RESULT to LOOKUP", 5, .account(alice, name: "alice", identity: identity),
                   [("account", alice.bytes), ("name", str16("alice"))] + identityFields(identity)),
            request("LIST", .list(after: "", limit: 50), id: 6, [("after", str16("")), ("limit", be16(50))]),
            result("RESULT to LIST", 6, .page([V3ListedAccount(account: alice, name: "alice"), V3ListedAccount(account: bob, name: "bob")], more: false),
                   [("count", be16(2)), ("[0].account", alice.bytes), ("[0].name", str16("alice")), ("[1].account", bob.bytes), ("[1].name", str16("bob")), ("more", [0])]),
            request("FETCH_BUNDLE", .fetchBundle(alice), id: 7, [("account", alice.bytes)]),
            result("RESULT to FETCH_BUNDLE", 7, .bundle(bundle),
                   [("account", alice.bytes)] + identityFields(identity) + prekeyFields("signedPrekey", signed)
                   + [("hasOneTimePrekey", [1])] + prekeyFields("oneTimePrekey", registration.oneTimePrekeys[0])),
            request("SEND", .send(recipient: bob, envelope: ByteBuffer(bytes: envelope)), id: 8,
                    [("recipient", bob.bytes), ("envelope.length", be32(envelope.count)), ("envelope", envelope)]),
            result("RESULT to SEND", 8, .sent(messageID: 42, serverTime: 1_796_000_000_000), [("messageID", be64(42)), ("serverTime", be64(1_796_000_000_000))]),
            server("DELIVERY", .delivery(V3Delivery(messageID: 42, sender: alice, serverTime: 1_796_000_000_000, envelope: ByteBuffer(bytes: envelope))), type: 0x43, id: 0,
                   [("messageID", be64(42)), ("sender", alice.bytes), ("serverTime", be64(1_796_000_000_000)), ("envelope.length", be32(envelope.count)), ("envelope", envelope)]),
            request("ACK", .ack([42, 43]), id: 9, [("count", be16(2)), ("messageIDs[0]", be64(42)), ("messageIDs[1]", be64(43))]),
            result("RESULT to ACK", 9, .acknowledged(1), [("deleted", be16(1))]),
            request("PING", .ping, id: 10, []),
            result("RESULT to PING", 10, .done, []),
            server("ERROR rateLimited", .error(requestID: 8, V3Error(.rateLimited, retryAfterMilliseconds: 1500, message: "slow down")), type: 0x42, id: 8,
                   [("code", be16(11)), ("retryAfterMilliseconds", be32(1500)), ("message", str16("slow down"))]),
            server("NOTICE prekeysLow", .notice(.prekeysLow(count: 3)), type: 0x44, id: 0, [("kind", be16(1)), ("count", be16(3))]),
            server("NOTICE caughtUp", .notice(.caughtUp), type: 0x44, id: 0, [("kind", be16(2))]),
            request("ATTACH_CREATE", .attachCreate(size: 5_000_000, recipients: [bob]), id: 11,
                    [("size", be64(5_000_000)), ("count", be16(1)), ("recipients[0]", bob.bytes)]),
            result("RESULT to ATTACH_CREATE", 11, .attachmentCreated(attachment), [("attachment", attachment.bytes)]),
            request("ATTACH_WRITE", .attachWrite(attachment, offset: 0, data: ByteBuffer(bytes: chunk)), id: 12,
                    [("attachment", attachment.bytes), ("offset", be64(0)), ("data.length", be32(chunk.count)), ("data", chunk)]),
            result("RESULT to ATTACH_WRITE", 12, .attachmentStored(UInt64(chunk.count)), [("stored", be64(UInt64(chunk.count)))]),
            request("ATTACH_STATUS", .attachStatus(attachment), id: 13, [("attachment", attachment.bytes)]),
            result("RESULT to ATTACH_STATUS", 13, .attachmentStatus(V3AttachmentStatus(size: 5_000_000, stored: 1_048_000, expiresAt: 1_798_592_000_000)),
                   [("size", be64(5_000_000)), ("stored", be64(1_048_000)), ("expiresAt", be64(1_798_592_000_000))]),
            request("ATTACH_READ", .attachRead(attachment, offset: 4_999_990, length: 1_048_560), id: 14,
                    [("attachment", attachment.bytes), ("offset", be64(4_999_990)), ("length", be32(1_048_560))]),
            result("RESULT to ATTACH_READ", 14, .attachmentData(ByteBuffer(bytes: chunk)), [("data.length", be32(chunk.count)), ("data", chunk)]),
            request("ATTACH_DONE", .attachDone(attachment), id: 15, [("attachment", attachment.bytes)]),
            result("RESULT to ATTACH_DONE", 15, .attachmentRecipientsLeft(0), [("recipientsLeft", be16(0))]),
            request("ATTACH_DELETE", .attachDelete(attachment), id: 16, [("attachment", attachment.bytes)]),
            result("RESULT to ATTACH_DELETE", 16, .done, []),
            server("ERROR wrongOffset", .error(requestID: 12, V3Error(.wrongOffset, message: "writes are sequential: the next one is at offset 1048000")),
                   type: 0x42, id: 12,
                   [("code", be16(18)), ("retryAfterMilliseconds", be32(0)), ("message", str16("writes are sequential: the next one is at offset 1048000"))]),
        ]
    }
}
