import Adapters
import Application
import Domain
import Foundation
import Testing

/// Three clients with separate homes against a real server on each store: register, list,
/// key exchange, texts and files of several sizes, with restarts (fresh `services()`)
/// between the steps.
@Suite("Client: end to end against a real server")
struct ClientEndToEndTests {
    @Test("register, list, texts of 1 B, 5000 B and 1 MiB, files of 0 B, 1 B and 20 MiB", arguments: StoreKind.available)
    func exchange(_ kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try ClientHarness(port: server.port)
            let bob = try ClientHarness(port: server.port)
            let carol = try ClientHarness(port: server.port)
            defer { [alice, bob, carol].forEach { $0.remove() } }

            let a = try await alice.register("alice")
            let b = try await bob.register("bob")
            let c = try await carol.register("carol")
            await #expect(throws: ClientError.alreadyRegistered(name: "alice", id: a.id)) {
                _ = try await alice.register("alice2")
            }
            let listed = try await ListOtherClients(alice.services()).run()
            #expect(listed.map(\.name.value) == ["bob", "carol"])
            #expect(listed.map(\.id) == [b.id, c.id])

            // Texts: the first send exchanges a key by itself.
            let texts = ["x", String(repeating: "é", count: 2500), String(repeating: "0123456789abcdef", count: 65536)]
            for text in texts {
                _ = try await SendText(alice.services()).run(name: "bob", text: text)
            }
            let inbox = try await bob.inbox()
            #expect(inbox.failure == nil)
            #expect(inbox.entries.map(\.kind) == [.symmetricKey, .text, .text, .text])
            #expect(inbox.entries.compactMap(\.text) == texts)
            #expect(inbox.entries.allSatisfy { $0.error == nil && $0.senderName?.value == "alice" })

            // Bob answers under the key exchanged before (after a restart: fresh services).
            _ = try await SendText(bob.services()).run(name: "alice", text: "hello alice")
            let reply = try await alice.inbox()
            #expect(reply.entries.map(\.text) == ["hello alice"])
            #expect(try await bob.services().state.pairKeys(for: a.id).count == 1)

            // Files: 0 bytes, 1 byte, 20 MiB.
            let directory = try TestStores.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var big = [UInt8](repeating: 0, count: 20 * 1024 * 1024)
            for index in stride(from: 0, to: big.count, by: 4096) { big[index] = UInt8(truncatingIfNeeded: index / 4096) }
            let contents: [[UInt8]] = [[], [0x42], big]
            for (index, content) in contents.enumerated() {
                let path = directory.appendingPathComponent("file\(index)").path
                try Data(content).write(to: URL(fileURLWithPath: path))
                let sent = try await SendFile(carol.services()).run(name: "alice", path: path)
                #expect(sent.size == UInt64(content.count))
            }
            let files = try await alice.inbox()
            #expect(files.failure == nil)
            #expect(files.entries.map(\.kind) == [.symmetricKey, .file, .file, .file])
            for (entry, content) in zip(files.entries.dropFirst(), contents) {
                #expect(entry.error == nil)
                let path = try #require(entry.path)
                #expect(path.hasPrefix(alice.home.appendingPathComponent("downloads").path))
                #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == content)
            }
            // Nothing half-written is left behind.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: alice.home.appendingPathComponent("downloads").path)
            #expect(leftovers.filter { $0.hasPrefix(".") }.isEmpty)
            #expect(leftovers.count == 3)
        }
    }

    @Test("a key request is answered automatically, and not with --no-auto-reply", arguments: StoreKind.available)
    func keyRequests(_ kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let alice = try ClientHarness(port: server.port)
            let bob = try ClientHarness(port: server.port)
            defer { [alice, bob].forEach { $0.remove() } }
            let a = try await alice.register("alice")
            let b = try await bob.register("bob")

            _ = try await RequestKey(alice.services()).run(name: "bob")
            let quiet = try await bob.inbox(autoReply: false)
            #expect(quiet.entries.map(\.kind) == [.keyRequest])
            #expect(try await alice.inbox().entries.isEmpty)

            _ = try await RequestKey(alice.services()).run(name: "bob")
            let answered = try await bob.inbox()
            #expect(answered.entries.map(\.kind) == [.keyRequest])
            #expect(answered.entries[0].error == nil)
            let got = try await alice.inbox()
            #expect(got.entries.map(\.kind) == [.symmetricKey])
            let aliceKeys = try await alice.services().state.pairKeys(for: b.id)
            let bobKeys = try await bob.services().state.pairKeys(for: a.id)
            #expect(aliceKeys.first?.bytes == bobKeys.first?.bytes)
            #expect(aliceKeys.first?.origin == .received)
            #expect(bobKeys.first?.origin == .created)

            _ = try await SendText(alice.services()).run(name: "bob", text: "under bob's key")
            #expect(try await bob.inbox().entries.map(\.text) == ["under bob's key"])
        }
    }
}
