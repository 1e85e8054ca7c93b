import Domain
import Foundation
import Synchronization
import Testing

/// A 1003 means committed: `kill -9` in the middle of many sends loses no acknowledged
/// message and duplicates none.
@Suite("Crash durability", .serialized)
struct CrashDurabilityTests {
    static var durableKinds: [StoreKind] { StoreKind.available.filter { $0 != .memory } }

    @Test("acknowledged sends survive kill -9", arguments: durableKinds)
    func killNine(kind: StoreKind) async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = try await ServerProcess.storeArguments(kind, directory: directory)

        var server = try await ServerProcess.start(arguments: arguments)
        let port = server.port
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")

        let log = SendLog()
        let senders = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var sequence = 0
                        while !Task.isCancelled {
                            let content = Array("w\(worker)-\(sequence)".utf8)
                            sequence += 1
                            log.attempted.withLock { _ = $0.insert(content) }
                            guard let reply = try? Reply(try await RawClient.exchange(Requests.send(alice, to: bob, type: 3, content: content), port: port)) else {
                                return
                            }
                            if reply.code == 1003 { log.acknowledged.withLock { $0.append(content) } }
                        }
                    }
                }
            }
        }
        // Let sends pile up, then kill the server in the middle of them.
        let piledUp = try await eventually(timeout: .seconds(60)) { log.acknowledged.withLock { $0.count } >= 300 }
        #expect(piledUp, "only \(log.acknowledged.withLock { $0.count }) sends were acknowledged")
        await server.kill9()
        senders.cancel()
        await senders.value

        server = try await ServerProcess.start(arguments: arguments)
        var delivered: [[UInt8]] = []
        while true {
            let reply = try Reply(try await RawClient.exchange(Requests.pull(bob), port: server.port))
            #expect(reply.code == 1004)
            if reply.messages.isEmpty { break }
            delivered += reply.messages.map(\.content)
        }
        #expect(await server.terminate() == 0)

        let acked = log.acknowledged.withLock { $0 }
        let tried = log.attempted.withLock { $0 }
        #expect(acked.count >= 300)
        // Exactly once for every acknowledged message; at most once for the rest.
        #expect(Set(delivered).count == delivered.count, "a message was delivered twice")
        #expect(Set(acked).isSubset(of: Set(delivered)), "\(Set(acked).subtracting(delivered).count) acknowledged messages lost")
        #expect(Set(delivered).isSubset(of: tried))
    }
}

/// What the senders tried and what the server acknowledged.
private final class SendLog: Sendable {
    let acknowledged = Mutex<[[UInt8]]>([])
    let attempted = Mutex<Set<[UInt8]>>([])
}
