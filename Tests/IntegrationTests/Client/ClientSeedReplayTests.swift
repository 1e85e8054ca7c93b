import Adapters
import Application
import Domain
import Foundation
import Testing

/// The recorded session of the original client (seed_session.md), replayed to our client:
/// the recorded server replies go through the real TCP transport, the reply parser and the
/// inbox, with client2's own me.info.
@Suite("Client: replay of the original client's recorded session")
struct ClientSeedReplayTests {
    static let client1 = ClientID(hex: "4c48858c6f92f92324ed83a18332a62e")!
    static let client2 = ClientID(hex: "19fad9893004bd17df1ee4d7ad114d83")!

    /// A home holding client2's me.info, talking to a server that answers `replies`.
    static func client2Home(port: Int) throws -> ClientHarness {
        let harness = try ClientHarness(port: port)
        try Data(CryptoFixtures.bytes("seed_session_client2.me.info"))
            .write(to: harness.home.appendingPathComponent("me.info"))
        return harness
    }

    @Test("client2 reads the key (seq 14) and then the file (seq 22); client1's side reads the texts (seq 19)")
    func replaysPulls() async throws {
        let session = try SeedSession.load()
        let replies = try [14, 22].map { try session.connection($0).response }
        let pairKey = try await CannedServer.with(replies) { server in
            let client2 = try Self.client2Home(port: server.port)
            defer { client2.remove() }
            #expect(try await WhoAmI(client2.services()).run().name.value == "client2")

            let first = try await client2.inbox()
            try #require(first.failure == nil)
            try #require(first.entries.count == 1)
            #expect(first.entries[0].senderID == Self.client1)
            #expect(first.entries[0].kind == .symmetricKey)
            #expect(first.entries[0].error == nil)
            let keys = try await client2.services().state.pairKeys(for: Self.client1)
            try #require(keys.count == 1)
            #expect(keys[0].origin == .received)

            // A restart between the pulls: the key must come back from the database.
            let second = try await client2.inbox()
            try #require(second.failure == nil)
            try #require(second.entries.count == 1)
            let entry = second.entries[0]
            #expect(entry.kind == .file)
            #expect(entry.error == nil)
            let path = try #require(entry.path)
            let expected = try LegacyVectors.load().bytes("file_seed_test_plaintext")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
            // Each inbox starts with a well-formed pull from client2 (a list follows to name
            // the unknown sender; the canned server answers it with garbage, which is ignored).
            let requests = server.requests.withLock { $0 }
            #expect(requests.first == Requests.pull(Self.client2))
            #expect(requests.filter { $0 == Requests.pull(Self.client2) }.count == 2)
            return keys[0].bytes
        }

        // seq 19 is client1's pull of client2's texts. We have no client1 me.info, so client1's
        // side is a home with a fresh key under client1's id that shares the pair key.
        let texts = try session.connection(19).response
        try await CannedServer.with([texts]) { server in
            let client1 = try ClientHarness(port: server.port)
            defer { client1.remove() }
            let crypto = OpenSSLLegacyCrypto()
            let identity = try ClientIdentity(
                name: ClientName("client1"), id: Self.client1, privateKey: crypto.generateKeyPair().privateKey)
            let services = try client1.services()
            try await services.identity.save(identity)
            try await services.state.addPairKey(PairKey(bytes: pairKey, origin: .created), for: Self.client2, makeCurrent: true)
            let result = try await client1.inbox()
            #expect(result.failure == nil)
            #expect(result.entries.map(\.text) == [
                "message 1 from client2", "message 2 from client2",
                String((0..<5000).map { Character(String($0 % 10)) }),
            ])
            #expect(result.entries.allSatisfy { $0.senderID == Self.client2 && $0.error == nil })
        }
    }

    @Test("the recorded list (seq 6), public key (seq 7) and failure (seq 4) replies parse")
    func replaysOtherReplies() async throws {
        let session = try SeedSession.load()
        let replies = try [6, 7, 4].map { try session.connection($0).response }
        try await CannedServer.with(replies) { server in
            let connection = TCPSeedServerConnection(host: "127.0.0.1", port: server.port)
            let clients = try await connection.listClients(requester: Self.client2)
            #expect(clients == [ClientSummary(id: Self.client1, name: try ClientName("client1"))])
            let key = try await connection.publicKey(of: Self.client1, requester: Self.client2)
            #expect(key.bytes == (try session.registeredPublicKey(1)))
            await #expect(throws: ClientError.server(request: "register")) {
                _ = try await connection.register(name: ClientName("client1"), publicKey: key)
            }
        }
    }
}
