import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SeedWire
import Testing

/// The server over real sockets, on every store.
@Suite("Server over TCP")
struct ServerFlowTests {
    @Test("register, list, key, send every kind, pull once", arguments: StoreKind.available)
    func flow(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            #expect(try await server.request(Requests.register("alice")).code == 9000)

            let list = try await server.request(Requests.list(alice))
            #expect(list.code == 1001)
            #expect(list.payload.count == 271)
            #expect(ClientID(bytes: list.payload.prefix(16)) == bob)

            // The original client's quirk: the target's id in the header.
            let key = try await server.request(Requests.publicKey(bob, of: bob))
            #expect(key.code == 1002 && key.payload == bob.bytes + Requests.samplePublicKey)

            var sentIDs: [UInt32] = []
            let contents: [(UInt8, [UInt8])] = [(1, []), (2, Array(repeating: 7, count: 128)), (3, Array("hi".utf8)), (4, Array(repeating: 9, count: 5000))]
            for (type, content) in contents {
                let reply = try await server.request(Requests.send(alice, to: bob, type: type, content: content))
                #expect(reply.code == 1003)
                #expect(Array(reply.payload.prefix(16)) == bob.bytes)
                sentIDs.append(UInt32(truncatingIfNeeded: try SeedReply.sent(ByteBuffer(bytes: reply.payload), to: bob).rawValue))
            }
            #expect(sentIDs == sentIDs.sorted() && Set(sentIDs).count == 4)

            let pulled = try await server.request(Requests.pull(bob))
            #expect(pulled.code == 1004)
            let messages = pulled.messages
            #expect(messages.map(\.id) == sentIDs)
            #expect(messages.map(\.type) == [1, 2, 3, 4])
            #expect(messages.map(\.content) == contents.map(\.1))
            #expect(messages.allSatisfy { $0.from == alice })
            #expect(try await server.request(Requests.pull(bob)).payload.isEmpty)
        }
    }

    @Test("a large content streams through and its storage is freed after delivery", arguments: StoreKind.available)
    func largeFile(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let stores = server.stores
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let content = Bytes.pattern(count: 9 * 1024 * 1024 + 123)
            let sent = try await server.request(Requests.send(alice, to: bob, type: 4, content: content))
            #expect(sent.code == 1003)
            let pulled = try await server.request(Requests.pull(bob))
            #expect(pulled.messages.count == 1)
            #expect(pulled.messages.first.map { Bytes.same($0.content, content) } == true)
            if let directory = stores.directory {
                // The reply's last byte (and the server's FIN) can reach the client before
                // the server, told of the delivery, has removed the file: wait for it.
                #expect(try await eventually { try contentFiles(in: directory).isEmpty }, "blob files left after delivery")
            }
            #expect(try await server.request(Requests.pull(bob)).payload.isEmpty)
        }
    }

    @Test("concurrent pulls of one inbox never return a message twice", arguments: StoreKind.available)
    func concurrentPulls(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let total = 120
            for index in 0..<total {
                let reply = try await server.request(Requests.send(alice, to: bob, type: 3, content: Array("m\(index)".utf8)))
                #expect(reply.code == 1003)
            }
            let received = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var mine: [[UInt8]] = []
                        while true {
                            let reply = try await server.request(Requests.pull(bob))
                            if reply.messages.isEmpty { return mine }
                            mine += reply.messages.map(\.content)
                        }
                    }
                }
                var all: [[UInt8]] = []
                for try await part in group { all += part }
                return all
            }
            #expect(received.count == total)
            #expect(Set(received).count == total)
        }
    }

    @Test("the original client's reset after 4 bytes of a 1003 keeps the message", arguments: StoreKind.available)
    func resetAfterSend(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let head = try await RawClient.exchangeThenReset(
                Requests.send(alice, to: bob, type: 3, content: Array("kept".utf8)), port: server.port, readCount: 4)
            #expect(head == [2, 0xeb, 0x03, 20])
            let pulled = try await server.request(Requests.pull(bob))
            #expect(pulled.messages.map(\.content) == [Array("kept".utf8)])
        }
    }

    @Test("a client that closes as soon as it has read a pull reply is not served it again", arguments: StoreKind.available)
    func closeRightAfterPull(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            // Each round: one 1 MiB file, then a pull read to its declared end and closed at
            // once. The content streams from the store, so the client has read the last byte
            // and closed before the server has finished with its store and shut its side:
            // both ends are closed before the server's FIN is acknowledged. A server that took
            // that for a failed delivery would put the message back and serve it again.
            let rounds = 12
            var pulled: [[UInt8]] = []
            for round in 0..<rounds {
                let content = Array(repeating: UInt8(round), count: 1 << 20)
                #expect(try await server.request(Requests.send(alice, to: bob, type: 4, content: content)).code == 1003)
                let reply = try Reply(try await RawClient.exchangeClosingAfterReply(Requests.pull(bob), port: server.port))
                #expect(reply.code == 1004)
                pulled += reply.messages.map(\.content)
            }
            // Once the server has finished with every connection, each pull's claim is
            // settled: acknowledged, or (wrongly) released. Then look.
            #expect(try await eventually { server.server.openConnections == 0 }, "connections still open")
            pulled += try await server.request(Requests.pull(bob)).messages.map(\.content)
            #expect(pulled.count == rounds, "\(pulled.count - rounds) messages delivered twice")
            #expect(Set(pulled).count == pulled.count)
        }
    }

    @Test("a pull whose connection is cut mid-reply loses nothing", arguments: StoreKind.available)
    func cutPull(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let big = Array(repeating: UInt8(5), count: 4 * 1024 * 1024)
            #expect(try await server.request(Requests.send(alice, to: bob, type: 4, content: big)).code == 1003)
            #expect(try await server.request(Requests.send(alice, to: bob, type: 3, content: [1, 2, 3])).code == 1003)
            // Read a little of the reply, then reset. The small receive buffer keeps the
            // client's kernel from taking (and acknowledging) the whole 4 MiB meanwhile.
            _ = try await RawClient.exchangeThenReset(Requests.pull(bob), port: server.port, readCount: 1000, receiveBuffer: 8192)
            // The server notices the reset and gives the claim back.
            let pulled = try await poll(every: .milliseconds(50)) { () async throws -> Reply? in
                let reply = try await server.request(Requests.pull(bob))
                return reply.messages.isEmpty ? nil : reply
            }
            #expect(pulled?.messages.map(\.content) == [big, [1, 2, 3]])
        }
    }
}

/// Content files a SQLite store keeps beside its database.
func contentFiles(in directory: URL) throws -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: directory.path)
    var files: [String] = []
    while let path = enumerator?.nextObject() as? String {
        if path.contains(".blobs/") { files.append(path) }
    }
    return files
}
