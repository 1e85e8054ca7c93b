import Application
import Domain
import Testing

/// The storage ports' contract, written once and run against every store.
///
/// Each test gets fresh, empty stores (a new SQLite file, a new PostgreSQL schema).
@Suite("Store contract")
struct StoreContractTests {
    let alice = ClientID(high: 0xa11ce, low: 1)
    let bob = ClientID(high: 0xb0b, low: 2)
    let carol = ClientID(high: 0xca401, low: 3)

    private func client(_ id: ClientID, _ name: String) throws -> RegisteredClient {
        RegisteredClient(id: id, name: try ClientName(name), publicKey: try PublicKey(bytes: Array(repeating: UInt8(truncatingIfNeeded: id.low), count: 160)))
    }

    private func header(_ from: ClientID, _ to: ClientID, _ kind: MessageKind = .text, size: Int) -> MessageHeader {
        MessageHeader(sender: from, recipient: to, kind: kind, contentSize: UInt32(size))
    }

    private func withStores(_ kind: StoreKind, inlineLimit: UInt32 = 64 * 1024, _ body: (TestStores) async throws -> Void) async throws {
        let stores = try await TestStores.make(kind, inlineLimit: inlineLimit)
        do {
            try await body(stores)
        } catch {
            await stores.close()
            throw error
        }
        await stores.close()
    }

    @Test("clients: unique names and ids, registration order, lookups", arguments: StoreKind.available)
    func clients(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let directory = stores.clients
            try await directory.register(client(bob, "bob"))
            try await directory.register(client(alice, "alice"))
            try await directory.register(client(carol, "carol"))
            await #expect(throws: DomainError.nameTaken(try ClientName("alice"))) {
                try await directory.register(client(ClientID(high: 9, low: 9), "alice"))
            }
            await #expect(throws: StoreError.duplicateID) {
                try await directory.register(client(alice, "another"))
            }
            #expect(try await directory.allClients().map(\.name.value) == ["bob", "alice", "carol"])
            #expect(try await directory.client(withID: alice) == client(alice, "alice"))
            #expect(try await directory.client(withID: ClientID(high: 7, low: 7)) == nil)
            await directory.recordSeen(alice, at: 1_700_000_000)
            await directory.recordSeen(ClientID(high: 7, low: 7), at: 1_700_000_000)
        }
    }

    @Test("messages: ascending ids, oldest first, claim, release, acknowledge", arguments: StoreKind.available)
    func lifecycle(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let store = stores.messages
            #expect(try await store.claim(for: bob, maxBytes: 1 << 20).messages.isEmpty)
            var ids: [MessageID] = []
            for index in 0..<5 {
                ids.append(try await store.enqueue(header(alice, bob, size: 3), content: [UInt8(index), 1, 2]))
            }
            _ = try await store.enqueue(header(alice, carol, size: 1), content: [9])
            #expect(ids == ids.sorted() && Set(ids).count == 5)
            #expect(ids.first == MessageID(1))

            let first = try await store.claim(for: bob, maxBytes: 1 << 20)
            #expect(first.messages.map(\.id) == ids)
            #expect(first.messages.map { $0.inlineContent?.first } == [0, 1, 2, 3, 4])
            #expect(first.messages.allSatisfy { $0.sender == alice && $0.kind == .text && $0.contentSize == 3 })
            // Claimed messages are invisible to another claim.
            #expect(try await store.claim(for: bob, maxBytes: 1 << 20).messages.isEmpty)
            try await store.release(first)
            let second = try await store.claim(for: bob, maxBytes: 1 << 20)
            #expect(second.messages.map(\.id) == ids)
            try await store.acknowledge(second)
            #expect(try await store.claim(for: bob, maxBytes: 1 << 20).messages.isEmpty)
            // Carol's message was never touched.
            #expect(try await store.claim(for: carol, maxBytes: 1 << 20).messages.map(\.inlineContent) == [[9]])
        }
    }

    @Test("claims respect the byte budget, but a first message always fits", arguments: StoreKind.available)
    func budget(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let store = stores.messages
            for _ in 0..<4 {
                _ = try await store.enqueue(header(alice, bob, size: 100), content: Array(repeating: 1, count: 100))
            }
            // 125 bytes per entry: a budget of 300 takes two.
            let two = try await store.claim(for: bob, maxBytes: 300)
            #expect(two.messages.count == 2)
            #expect(two.wireSize == 250)
            // A budget smaller than one entry still returns one.
            let one = try await store.claim(for: bob, maxBytes: 10)
            #expect(one.messages.count == 1)
            #expect(Set(two.messages.map(\.id)).isDisjoint(with: one.messages.map(\.id)))
        }
    }

    @Test("uploads: invisible until commit, streamed back whole, sizes enforced", arguments: StoreKind.available)
    func uploads(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 1024) { stores in
            let store = stores.messages
            let content = (0..<700_001).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let upload = try await store.beginUpload(header(alice, bob, .file, size: content.count))
            var offset = 0
            while offset < content.count {
                let end = min(offset + 65_536, content.count)
                try await upload.write(Array(content[offset..<end]))
                offset = end
                #expect(try await store.claim(for: bob, maxBytes: 1 << 30).messages.isEmpty)
            }
            let id = try await upload.commit()

            let claim = try await store.claim(for: bob, maxBytes: 1 << 30)
            let message = try #require(claim.messages.first)
            #expect(message.id == id && message.kind == .file && message.contentSize == 700_001)
            #expect(message.inlineContent == nil)
            let reader = try await store.openContent(of: message, in: claim)
            var back: [UInt8] = []
            while let piece = try await reader.next() { back += piece }
            await reader.close()
            #expect(back == content)
            try await store.acknowledge(claim)

            // Short and long uploads fail at commit or write; aborted ones leave nothing.
            let short = try await store.beginUpload(header(alice, bob, .file, size: 5000))
            try await short.write(Array(repeating: 1, count: 4000))
            await #expect(throws: (any Error).self) { _ = try await short.commit() }
            await short.abort()
            let long = try await store.beginUpload(header(alice, bob, .file, size: 2000))
            await #expect(throws: (any Error).self) {
                try await long.write(Array(repeating: 1, count: 3000))
                _ = try await long.commit()
            }
            await long.abort()
            let aborted = try await store.beginUpload(header(alice, bob, .file, size: 2000))
            try await aborted.write(Array(repeating: 1, count: 1000))
            await aborted.abort()
            try await store.recover()
            #expect(try await store.claim(for: bob, maxBytes: 1 << 30).messages.isEmpty)
        }
    }

    @Test("content is only opened through the claim that holds it", arguments: StoreKind.available)
    func openOutsideClaim(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 16) { stores in
            let store = stores.messages
            let upload = try await store.beginUpload(header(alice, bob, .file, size: 100))
            try await upload.write(Array(repeating: 4, count: 100))
            _ = try await upload.commit()
            let claim = try await store.claim(for: bob, maxBytes: 1 << 20)
            let message = try #require(claim.messages.first)
            let stale = MessageClaim(token: claim.token &+ 12345, recipient: bob, messages: claim.messages)
            await #expect(throws: (any Error).self) { _ = try await store.openContent(of: message, in: stale) }
            try await store.release(claim)
        }
    }

    @Test("concurrent enqueues get distinct ids and concurrent claims never share", arguments: StoreKind.available)
    func concurrency(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let store = stores.messages
            let (alice, bob) = (self.alice, self.bob)
            let ids = try await withThrowingTaskGroup(of: MessageID.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let content: [UInt8] = [UInt8(index & 0xff), UInt8(index >> 8), 0, 1]
                        return try await store.enqueue(MessageHeader(sender: alice, recipient: bob, kind: .text, contentSize: 4), content: content)
                    }
                }
                var all: [MessageID] = []
                for try await id in group { all.append(id) }
                return all
            }
            #expect(Set(ids).count == 200)
            let claimed = try await withThrowingTaskGroup(of: [MessageID].self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        var mine: [MessageID] = []
                        while true {
                            let claim = try await store.claim(for: bob, maxBytes: 29 * 7)
                            if claim.messages.isEmpty { return mine }
                            mine += claim.messages.map(\.id)
                            try await store.acknowledge(claim)
                        }
                    }
                }
                var all: [MessageID] = []
                for try await part in group { all += part }
                return all
            }
            #expect(claimed.count == 200)
            #expect(Set(claimed) == Set(ids))
        }
    }
}
