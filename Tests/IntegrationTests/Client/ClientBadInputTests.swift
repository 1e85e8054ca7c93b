import Adapters
import Application
import Domain
import Foundation
import Testing

/// Broken servers and broken messages: clear errors, never a crash, and the other messages
/// of a pull still shown.
@Suite("Client: bad input")
struct ClientBadInputTests {
    static let me = ClientID(high: 0x1111, low: 1)
    static let peer = ClientID(high: 0x2222, low: 2)

    @Test("9000 becomes an error naming the request")
    func serverError() async throws {
        try await CannedServer.with([Replies.reply(9000, [])]) { server in
            let connection = TCPSeedServerConnection(host: "127.0.0.1", port: server.port)
            await #expect(throws: ClientError.server(request: "list clients")) {
                _ = try await connection.listClients(requester: Self.me)
            }
            await #expect(throws: ClientError.server(request: "send message")) {
                _ = try await connection.send(.text, content: [1, 2, 3], to: Self.peer, from: Self.me)
            }
            #expect(ClientError.server(request: "send message").description == "the server refused the send message request (error 9000)")
        }
    }

    @Test("garbage, truncated and oversized replies are clear errors", arguments: [
        ([UInt8](repeating: 0xAB, count: 40), "reply code"),
        (Replies.reply(1001, [UInt8](repeating: 0, count: 271)).prefix(100).map { $0 }, "truncated"),
        ([UInt8]([2, 0xE9]), "truncated"),
        (Replies.reply(1001, [UInt8](repeating: 0x41, count: 100)), "whole number"),
        (Replies.reply(1001, [UInt8](repeating: 0, count: 271)), "entry 1"),
    ])
    func malformed(_ reply: [UInt8], _ words: String) async throws {
        try await CannedServer.with([reply]) { server in
            let connection = TCPSeedServerConnection(host: "127.0.0.1", port: server.port)
            do {
                _ = try await connection.listClients(requester: Self.me)
                Issue.record("expected an error")
            } catch let error as ClientError {
                guard case .malformedReply(let request, _) = error else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(request == "list clients")
                #expect(error.description.contains(words))
            }
        }
    }

    @Test("a reply declaring more than the limit is refused before it is read")
    func oversized() async throws {
        let reply = Replies.reply(1004, Replies.entry(from: Self.peer, id: 1, type: 3, content: [UInt8](repeating: 0, count: 4096)))
        try await CannedServer.with([reply]) { server in
            let harness = try ClientHarness(port: server.port, maxReplySize: 1024)
            defer { harness.remove() }
            try await Self.identity(in: harness)
            let result = try await harness.inbox()
            #expect(result.entries.isEmpty)
            #expect(result.failure == .replyTooLarge(request: "pull messages", size: 4096 + 25, limit: 1024))
        }
    }

    @Test("an undecryptable text, an unknown sender, a bad type and a cut-off file: per-message errors, the rest shown")
    func perMessageErrors() async throws {
        let crypto = OpenSSLLegacyCrypto()
        let key = try crypto.newSymmetricKey()
        let stranger = ClientID(high: 0x3333, low: 3)
        var payload: [UInt8] = []
        payload += Replies.entry(from: Self.peer, id: 1, type: 3, content: [UInt8](repeating: 7, count: 32))
        payload += Replies.entry(from: stranger, id: 2, type: 3, content: try crypto.encryptText("who am I", key: key))
        payload += Replies.entry(from: Self.peer, id: 3, type: 9, content: [1])
        payload += Replies.entry(from: Self.peer, id: 4, type: 2, content: [UInt8](repeating: 1, count: 128))
        payload += Replies.entry(from: Self.peer, id: 5, type: 3, content: try crypto.encryptText("still here", key: key))
        let cut = Replies.entry(from: Self.peer, id: 6, type: 4, content: try crypto.encryptText("a file", key: key))
        // The reply declares the whole file but the server closes 5 bytes short of it.
        let reply = Replies.reply(1004, payload + cut).dropLast(5).map { $0 }
        try await CannedServer.with([reply, Replies.reply(1001, [])]) { server in
            let harness = try ClientHarness(port: server.port)
            defer { harness.remove() }
            try await Self.identity(in: harness)
            try await harness.services().state.addPairKey(PairKey(bytes: key, origin: .created), for: Self.peer, makeCurrent: true)
            let result = try await harness.inbox()
            #expect(result.entries.map(\.id.rawValue) == [1, 2, 3, 4, 5, 6])
            let errors = result.entries.map(\.error)
            #expect(errors[0]?.contains("does not decrypt") == true)
            #expect(errors[1]?.contains("no symmetric key") == true)
            #expect(errors[2]?.contains("unknown message type 9") == true)
            #expect(errors[3]?.contains("key message") == true)
            #expect(errors[4] == nil)
            #expect(result.entries[4].text == "still here")
            #expect(errors[5]?.contains("truncated") == true)
            #expect(result.entries[5].path == nil)
            if case .malformedReply(let request, _) = result.failure {
                #expect(request == "pull messages")
            } else {
                Issue.record("expected the pull to report the truncation, got \(String(describing: result.failure))")
            }
            let downloads = harness.home.appendingPathComponent("downloads").path
            #expect((try? FileManager.default.contentsOfDirectory(atPath: downloads))?.isEmpty ?? true)
        }
    }

    @Test("a server that is not there is a connection error in words: host, port, the system's reason")
    func unreachable() async throws {
        // Bind a port and close it again so that nothing listens there.
        let port = try await CannedServer.with([[]]) { $0.port }
        let connection = TCPSeedServerConnection(host: "127.0.0.1", port: port)
        do {
            _ = try await connection.listClients(requester: Self.me)
            Issue.record("expected an error")
        } catch let error as ClientError {
            guard case .cannotConnect(let host, let refusedPort, let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(host == "127.0.0.1" && refusedPort == port)
            #expect(reason == "connection refused")
            #expect(error.description == "cannot connect to 127.0.0.1:\(port): connection refused")
        }
    }

    static func identity(in harness: ClientHarness) async throws {
        let pair = try OpenSSLLegacyCrypto().generateKeyPair()
        try await harness.services().identity.save(ClientIdentity(name: ClientName("tester"), id: me, privateKey: pair.privateKey))
    }
}
