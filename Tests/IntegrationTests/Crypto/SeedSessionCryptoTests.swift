import Adapters
import Application
import Domain
import Testing

/// Decrypts the recorded session of the original client (seed_session.md) with client2's
/// identity file: its key opens the key message client1 sent at seq 13 (pulled at seq 14),
/// and that AES key decrypts the texts of seq 16-18 (pulled by client1 at seq 19) and the
/// file of seq 21 (pulled by client2 at seq 22).
@Suite("Crypto: the original client's recorded session")
struct SeedSessionCryptoTests {
    let crypto = OpenSSLLegacyCrypto()
    static let client1 = "4c48858c6f92f92324ed83a18332a62e"
    static let client2 = "19fad9893004bd17df1ee4d7ad114d83"

    /// client2's identity, loaded from its me.info.
    func client2() throws -> ClientIdentity {
        try ClientIdentity(meInfo: CryptoFixtures.bytes("seed_session_client2.me.info"))
    }

    /// The AES key client1 sent to client2, unwrapped from the pull reply of seq 14.
    func sessionKey(_ session: SeedSession) throws -> [UInt8] {
        let messages = try session.pulledMessages(14)
        try #require(messages.count == 1)
        #expect(messages[0].type == 2)
        #expect(messages[0].peer == (try CryptoFixtures.hex(Self.client1)))
        #expect(messages[0].content.count == 128)
        return try crypto.unwrapKey(messages[0].content, with: client2().privateKey)
    }

    @Test("client2's me.info derives the public key it registered at seq 5")
    func client2PublicKey() throws {
        let session = try SeedSession.load()
        let identity = try client2()
        #expect(identity.name.value == "client2")
        #expect(identity.id.bytes == (try CryptoFixtures.hex(Self.client2)))
        #expect(try crypto.publicKey(for: identity.privateKey).bytes == session.registeredPublicKey(5))
    }

    @Test("the key message of seq 13 and its pull at seq 14 open to the same 16-byte key")
    func unwrapsSessionKey() throws {
        let session = try SeedSession.load()
        let key = try sessionKey(session)
        #expect(key.count == 16)
        let sent = try session.sentMessage(13)
        #expect(sent.type == 2)
        #expect(try crypto.unwrapKey(sent.content, with: client2().privateKey) == key)
    }

    @Test("the texts pulled at seq 19 decrypt to the session's messages")
    func decryptsPulledTexts() throws {
        let session = try SeedSession.load()
        let key = try sessionKey(session)
        let messages = try session.pulledMessages(19)
        try #require(messages.count == 3)
        #expect(messages.allSatisfy { $0.type == 3 })
        let texts = try messages.map { try crypto.decryptText($0.content, key: key) }
        #expect(texts[0] == "message 1 from client2")
        #expect(texts[1] == "message 2 from client2")
        let digits = String((0..<5000).map { Character(String($0 % 10)) })
        #expect(texts[2] == digits)
    }

    @Test("the send requests of seq 16, 17 and 18 decrypt like their pulls")
    func decryptsSentTexts() throws {
        let session = try SeedSession.load()
        let key = try sessionKey(session)
        let pulled = try session.pulledMessages(19)
        for (index, seq) in [16, 17, 18].enumerated() {
            let sent = try session.sentMessage(seq)
            #expect(sent.type == 3)
            #expect(sent.content == pulled[index].content)
            #expect(try crypto.decryptText(sent.content, key: key) == crypto.decryptText(pulled[index].content, key: key))
        }
    }

    @Test("the file pulled at seq 22 (sent at seq 21) is the seed test's 33-byte file")
    func decryptsFile() throws {
        let session = try SeedSession.load()
        let key = try sessionKey(session)
        let messages = try session.pulledMessages(22)
        try #require(messages.count == 1)
        #expect(messages[0].type == 4)
        #expect(messages[0].content == (try session.sentMessage(21).content))
        let expected = try LegacyVectors.load().bytes("file_seed_test_plaintext")
        for chunkSize in [1, 7, 16, 1000] {
            let file = try stream(messages[0].content, through: crypto.makeDecryptor(key: key), chunkSize: chunkSize)
            #expect(file == expected)
        }
        #expect(String(decoding: expected, as: UTF8.self) == "This is the the line in the file\n")
    }
}
