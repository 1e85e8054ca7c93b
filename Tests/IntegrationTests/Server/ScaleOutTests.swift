import Domain
import Foundation
import Testing

/// Two server processes on one PostgreSQL schema behave as one server: what is registered
/// or sent through one is seen through the other, and pulls through both never return a
/// message twice nor lose one.
@Suite("Scale-out over PostgreSQL", .enabled(if: StoreKind.available.contains(.postgres)))
struct ScaleOutTests {
    @Test("two processes share clients, keys and inboxes; concurrent pulls through both never duplicate")
    func twoProcesses() async throws {
        let arguments = try ServerProcess.postgresArguments(schema: try await ServerProcess.freshPostgresSchema())
        let first = try await ServerProcess.start(arguments: arguments)
        let second = try await ServerProcess.start(arguments: arguments)
        #expect(first.port != second.port)

        // Bob registers through the second first, so that it has looked clients up before
        // Alice appears through the first.
        let bob = try await second.register("bob", key: [UInt8](repeating: 0xB0, count: 160))
        #expect(try await second.request(Requests.list(bob)).payload.isEmpty)
        let aliceKey = [UInt8](repeating: 0xA1, count: 160)
        let alice = try await first.register("alice", key: aliceKey)

        // Listed and reachable through the other process.
        let list = try await second.request(Requests.list(bob))
        #expect(list.code == 1001 && list.payload.count == 271)
        #expect(ClientID(bytes: list.payload.prefix(16)) == alice)
        let key = try await second.request(Requests.publicKey(bob, of: alice))
        #expect(key.code == 1002 && key.payload == alice.bytes + aliceKey)
        // A name taken through one is taken through the other.
        #expect(try await second.request(Requests.register("alice")).code == 9000)

        // Sent through one, pulled through the other.
        #expect(try await first.request(Requests.send(alice, to: bob, type: 3, content: Array("hello".utf8))).code == 1003)
        let pulled = try await second.request(Requests.pull(bob))
        #expect(pulled.messages.map(\.content) == [Array("hello".utf8)])
        #expect(pulled.messages.first?.from == alice)
        #expect(try await first.request(Requests.pull(bob)).messages.isEmpty)

        // Many messages, sent through both, large ones among them; then four pullers per
        // process drain the inbox at once.
        let total = 240
        let sent = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let server = worker % 2 == 0 ? first : second
                    for index in stride(from: worker, to: total, by: 4) {
                        let content = index % 40 == 0
                            ? Array("big-\(index)".utf8) + Array(repeating: 0x42, count: 100 * 1024)
                            : Array("m-\(index)".utf8)
                        let reply = try await server.request(Requests.send(alice, to: bob, type: index % 40 == 0 ? 4 : 3, content: content))
                        guard reply.code == 1003 else { throw TestSetupError("send \(index): \(reply.code)") }
                    }
                    return []
                }
            }
            var done = 0
            for try await _ in group { done += 1 }
            return done
        }
        #expect(sent == 4)
        let received = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for puller in 0..<8 {
                group.addTask {
                    let server = puller % 2 == 0 ? first : second
                    var mine: [[UInt8]] = []
                    while true {
                        let reply = try await server.request(Requests.pull(bob))
                        guard reply.code == 1004 else { throw TestSetupError("pull: \(reply.code)") }
                        if reply.messages.isEmpty { return mine }
                        mine += reply.messages.map(\.content)
                    }
                }
            }
            var all: [[UInt8]] = []
            for try await part in group { all += part }
            return all
        }
        let distinct = Set(received)
        #expect(received.count == total, "\(received.count) of \(total) delivered")
        #expect(distinct.count == received.count, "a message was delivered twice")
        let expected = Set((0..<total).map { index in
            index % 40 == 0 ? Array("big-\(index)".utf8) + Array(repeating: 0x42, count: 100 * 1024) : Array("m-\(index)".utf8)
        })
        #expect(distinct == expected)

        #expect(await first.terminate() == 0)
        #expect(await second.terminate() == 0)
    }
}
