import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Testing

/// The client's v3 keys: generated on OpenSSL, every public key signed under its context, the
/// same bytes as the known-answer vectors for the fixed test keys, and never printed.
@Suite("account keys")
struct AccountKeysTests {
    private struct FrameVector: Decodable {
        let name: String
        let hex: String
    }

    private static func vector(_ name: String) throws -> [UInt8] {
        let data = try Data(contentsOf: Fixtures.directory.appendingPathComponent("v3_frames.json"))
        let vectors = try JSONDecoder().decode([FrameVector].self, from: data)
        return Hex.decode(try #require(vectors.first { $0.name == name }).hex)
    }

    /// docs/protocol-v3.md §11's alice.
    private static func alice() throws -> AccountKeys {
        try AccountKeys(
            identitySeed: (0..<32).map { UInt8($0) }, identityAgreementPrivateKey: (0..<32).map { UInt8(0x20 + $0) },
            signedPrekey: try .init(id: 7, privateKey: (0..<32).map { UInt8(0x40 + $0) }),
            oneTimePrekeys: [try .init(id: 100, privateKey: (0..<32).map { UInt8(0x60 + $0) }),
                             try .init(id: 101, privateKey: (0..<32).map { UInt8(0x80 + $0) })])
    }

    @Test("the fixed keys give the REGISTER and AUTHENTICATE frames of the vectors, proof and signature included")
    func vectors() throws {
        let keys = try Self.alice()
        let nonce = [UInt8](repeating: 0xA5, count: 32)
        let certificateHash = [UInt8](repeating: 0xC3, count: 32)
        let registration = try SecureAccountConnection.registration(
            name: try AccountName("alice"), signer: keys, signedPrekey: try keys.publicSignedPrekey(),
            oneTimePrekeys: [try keys.publicOneTimePrekeys()[0]], nonce: nonce, certificateHash: certificateHash)
        var register = ByteBuffer()
        V3Request.register(registration).write(requestID: 1, into: &register)
        #expect(Array(register.readableBytesView) == (try Self.vector("REGISTER")))

        let account = AccountID(bytes: [UInt8](repeating: 0x11, count: 16))!
        let signature = try keys.sign(V3Signing.authentication(nonce: nonce, account: account, certificateHash: certificateHash))
        var authenticate = ByteBuffer()
        V3Request.authenticate(account: account, signature: signature).write(requestID: 2, into: &authenticate)
        let expected = try Self.vector("AUTHENTICATE")
        // The request id may differ; everything after it is the same.
        #expect(Array(authenticate.readableBytesView.dropFirst(9)) == Array(expected.dropFirst(9)))
    }

    @Test("generated keys: identity and every prekey verify under their own context and no other; new prekeys are kept")
    func generated() throws {
        var keys = try AccountKeys.generate(signedPrekeyID: 3, oneTimePrekeyIDs: 10..<15)
        let other = try AccountKeys.generate(oneTimePrekeyIDs: [])
        #expect(keys.identity.signingKey != other.identity.signingKey)
        #expect(keys.identitySeed != other.identitySeed)
        let signing = keys.identity.signingKey
        #expect(OpenSSLCurve25519.isValid(keys.identity.agreementKeySignature, of: V3Signing.identityKey(keys.identity.agreementKey), by: signing))
        let signed = try keys.publicSignedPrekey()
        #expect(signed.id == 3)
        #expect(OpenSSLCurve25519.isValid(signed.signature, of: V3Signing.prekey(id: 3, key: signed.publicKey, signed: true), by: signing))
        #expect(!OpenSSLCurve25519.isValid(signed.signature, of: V3Signing.prekey(id: 3, key: signed.publicKey, signed: false), by: signing))
        let oneTime = try keys.publicOneTimePrekeys()
        #expect(oneTime.map(\.id) == [10, 11, 12, 13, 14])
        #expect(Set(oneTime.map(\.publicKey)).count == 5)
        for prekey in oneTime {
            #expect(OpenSSLCurve25519.isValid(prekey.signature, of: V3Signing.prekey(id: prekey.id, key: prekey.publicKey, signed: false), by: signing))
        }
        let added = try keys.addOneTimePrekeys(ids: [20, 21])
        #expect(keys.oneTimePrekeys.map(\.id) == [10, 11, 12, 13, 14, 20, 21])
        #expect(added.map(\.id) == [20, 21])
        let replaced = try keys.replaceSignedPrekey(id: 4)
        #expect(replaced.id == 4 && replaced.publicKey != signed.publicKey)
        let taken = keys.takeOneTimePrekey(id: 12)
        #expect(taken?.id == 12)
        #expect(keys.takeOneTimePrekey(id: 12) == nil)
        // X25519 with the private halves agrees both ways.
        let shared = try OpenSSLCurve25519.sharedSecret(privateKey: keys.identityAgreementPrivateKey, peer: other.identity.agreementKey)
        #expect(shared == (try OpenSSLCurve25519.sharedSecret(privateKey: other.identityAgreementPrivateKey, peer: keys.identity.agreementKey)))
    }

    @Test("printing the keys shows no private key")
    func neverPrinted() throws {
        let keys = try AccountKeys.generate(oneTimePrekeyIDs: 1...2)
        var dumped = ""
        dump(keys, to: &dumped)
        let texts = ["\(keys)", String(describing: keys), String(reflecting: keys), dumped, "\(keys.signedPrekey)", String(reflecting: keys.oneTimePrekeys)]
        let secrets = [keys.identitySeed, keys.identityAgreementPrivateKey, keys.signedPrekey.privateKey] + keys.oneTimePrekeys.map(\.privateKey)
        for text in texts {
            for secret in secrets {
                #expect(!text.contains(HexBytes.encode(secret)))
                #expect(!text.contains("\(secret)"))
            }
        }
        #expect("\(keys)".contains(HexBytes.encode(keys.identity.signingKey.bytes)))
    }
}
