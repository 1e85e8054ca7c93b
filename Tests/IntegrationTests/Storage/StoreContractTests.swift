import Application
import Domain
import Testing

/// The storage ports' contract (`MessageStore`, `MessageUpload`, `ClientDirectory`), written
/// once and run against every store: memory, SQLite (a temporary file) and PostgreSQL (a
/// fresh schema, when `SEALPOST_TEST_POSTGRES_URL` is set). What only one store promises
/// (durability across a reopen, kill -9, several processes, migrations, batching) stays in
/// that store's own suite.
@Suite("Store contract")
struct StoreContractTests {
    let alice = ClientID(high: 0xa11ce, low: 1)
    let bob = ClientID(high: 0xb0b, low: 2)
    let carol = ClientID(high: 0xca401, low: 3)

    /// The v2 reply's overhead; the stores must not assume it (see `budgetRule`).
    static let overhead: UInt64 = 25
    static let unlimited = ClaimBudget(totalBytes: .max, perMessageOverhead: overhead)

    private func budget(_ total: UInt64, overhead: UInt64 = Self.overhead) -> ClaimBudget {
        ClaimBudget(totalBytes: total, perMessageOverhead: overhead)
    }

    private func client(_ id: ClientID, _ name: String) throws -> RegisteredClient {
        RegisteredClient(id: id, name: try ClientName(name), publicKey: try PublicKey(bytes: Array(repeating: UInt8(truncatingIfNeeded: id.low), count: 160)))
    }

    private func header(_ from: ClientID, _ to: ClientID, _ kind: MessageKind = .text, size: Int) -> MessageHeader {
        MessageHeader(sender: from, recipient: to, kind: kind, contentSize: UInt32(size))
    }

    private func withStores(
        _ kind: StoreKind, inlineLimit: UInt32 = 64 * 1024, claimLease: Duration = .seconds(600),
        _ body: (TestStores) async throws -> Void
    ) async throws {
        let stores = try await TestStores.make(kind, inlineLimit: inlineLimit, claimLease: claimLease)
        do {
            try await body(stores)
        } catch {
            await stores.close()
            throw error
        }
        await stores.close()
    }

    /// Streams `content` into a new upload, in pieces of `piece` bytes, and commits it.
    private func upload(_ content: [UInt8], _ header: MessageHeader, to store: any MessageStore, piece: Int = 65_536) async throws -> MessageID {
        let upload = try await store.beginUpload(header)
        var offset = 0
        while offset < content.count {
            let end = min(offset + piece, content.count)
            try await upload.write(Array(content[offset..<end]))
            offset = end
        }
        return try await upload.commit()
    }

    private func readAll(_ message: Envelope, in claim: MessageClaim, from store: any MessageStore) async throws -> [UInt8] {
        let reader = try await store.openContent(of: message, in: claim)
        var back: [UInt8] = []
        while let piece = try await reader.next() { back += piece }
        await reader.close()
        return back
    }

    /// Expects `body` to throw `StoreError.notFound`.
    private func expectNotFound(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("expected StoreError.notFound, nothing was thrown", sourceLocation: sourceLocation)
        } catch StoreError.notFound {
        } catch {
            Issue.record("expected StoreError.notFound, got \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: - ClientDirectory

    @Test("clients: unique names and ids, registration order, lookups, recordSeen", arguments: StoreKind.available)
    func clients(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let directory = stores.clients
            #expect(try await directory.allClients().isEmpty)
            try await directory.register(client(bob, "bob"))
            try await directory.register(client(alice, "alice"))
            try await directory.register(client(carol, "carol"))
            await #expect(throws: DomainError.nameTaken(try ClientName("alice"))) {
                try await directory.register(client(ClientID(high: 9, low: 9), "alice"))
            }
            await #expect(throws: StoreError.duplicateID) {
                try await directory.register(client(alice, "another"))
            }
            // Neither refused registration left anything behind.
            #expect(try await directory.allClients() == [client(bob, "bob"), client(alice, "alice"), client(carol, "carol")])
            #expect(try await directory.client(withID: alice) == client(alice, "alice"))
            #expect(try await directory.client(withID: ClientID(high: 9, low: 9)) == nil)
            #expect(try await directory.client(withID: ClientID(high: 7, low: 7)) == nil)
            // Informational: known and unknown ids alike are accepted, and change no answer.
            await directory.recordSeen(alice, at: 1_700_000_000)
            await directory.recordSeen(ClientID(high: 7, low: 7), at: 1_700_000_000)
            #expect(try await directory.client(withID: alice) == client(alice, "alice"))
            #expect(try await directory.client(withID: ClientID(high: 7, low: 7)) == nil)
            #expect(try await directory.allClients().count == 3)
        }
    }

    // MARK: - MessageStore

    @Test("ids ascend in storing order; claims are oldest first and per recipient", arguments: StoreKind.available)
    func order(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 64) { stores in
            let store = stores.messages
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
            var ids: [MessageID] = []
            for index in 0..<5 {
                ids.append(try await store.enqueue(header(alice, bob, size: 3), content: [UInt8(index), 1, 2]))
                if index == 2 {
                    // Streamed uploads take their id at commit, in the same sequence.
                    ids.append(try await upload(Array(repeating: 7, count: 100), header(carol, bob, .file, size: 100), to: store))
                }
            }
            ids.append(try await store.enqueue(header(alice, bob, .keyRequest, size: 0), content: []))
            _ = try await store.enqueue(header(alice, carol, size: 1), content: [9])
            #expect(ids == ids.sorted() && Set(ids).count == ids.count)

            let claim = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(claim.recipient == bob)
            #expect(claim.messages.map(\.id) == ids)
            #expect(claim.messages.map(\.sender) == [alice, alice, alice, carol, alice, alice, alice])
            #expect(claim.messages.map(\.kind) == [.text, .text, .text, .file, .text, .text, .keyRequest])
            #expect(claim.messages.map(\.contentSize) == [3, 3, 3, 100, 3, 3, 0])
            #expect(claim.messages.map { $0.inlineContent?.first } == [0, 1, 2, nil, 3, 4, nil])
            #expect(claim.messages[6].inlineContent == [])
            #expect(claim.messages[3].inlineContent == nil, "above the inline limit: streamed")
            #expect(try await readAll(claim.messages[3], in: claim, from: store) == Array(repeating: 7, count: 100))
            // Carol's inbox is separate.
            #expect(try await store.claim(for: carol, budget: Self.unlimited).messages.map(\.inlineContent) == [[9]])
        }
    }

    @Test("enqueue refuses a content that is not the declared size", arguments: StoreKind.available)
    func enqueueSizeMismatch(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let store = stores.messages
            let (alice, bob) = (self.alice, self.bob)
            await #expect(throws: StoreError.sizeMismatch(declared: 4, written: 3)) {
                _ = try await store.enqueue(MessageHeader(sender: alice, recipient: bob, kind: .text, contentSize: 4), content: [1, 2, 3])
            }
            let claim = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(claim.messages.isEmpty)
            let footprint = try await stores.footprint()
            #expect(footprint == 0)
        }
    }

    @Test("claims follow ClaimBudget: the first always fits, stop before going over", arguments: StoreKind.available)
    func budgetRule(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let store = stores.messages
            // Contents 100, 100, 0, 100, 50: with overhead 25, costs 125, 125, 25, 125, 75.
            var ids: [MessageID] = []
            for size in [100, 100, 0, 100, 50] {
                ids.append(try await store.enqueue(header(alice, bob, size: size), content: Array(repeating: 1, count: size)))
            }
            // Exactly 250: two messages, the exact fit included.
            let two = try await store.claim(for: bob, budget: budget(250))
            #expect(two.messages.map(\.id) == Array(ids[0..<2]))
            try await store.release(two)
            // One byte short of two: one.
            let one = try await store.claim(for: bob, budget: budget(249))
            #expect(one.messages.map(\.id) == [ids[0]])
            try await store.release(one)
            // A budget smaller than the first message still returns it, alone.
            let alone = try await store.claim(for: bob, budget: budget(10))
            #expect(alone.messages.map(\.id) == [ids[0]])
            // The next claim starts after it: 125 + 25 fit in 160, the third (125) does not,
            // and the smaller one after it is not taken instead.
            let next = try await store.claim(for: bob, budget: budget(160))
            #expect(next.messages.map(\.id) == Array(ids[1..<3]))
            // The overhead is the budget's, not the store's: with none, 100 + 50 fit in 150.
            let rest = try await store.claim(for: bob, budget: budget(150, overhead: 0))
            #expect(rest.messages.map(\.id) == Array(ids[3..<5]))
            #expect(try await store.claim(for: bob, budget: budget(1)).messages.isEmpty)
        }
    }

    @Test("a claimed message is invisible to other claims; release returns it unchanged", arguments: StoreKind.available)
    func exclusivityAndRelease(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 16) { stores in
            let store = stores.messages
            let large = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            _ = try await store.enqueue(header(alice, bob, size: 3), content: [1, 2, 3])
            _ = try await upload(large, header(carol, bob, .file, size: large.count), to: store, piece: 4096)
            _ = try await store.enqueue(header(carol, bob, .keyRequest, size: 0), content: [])

            let first = try await store.claim(for: bob, budget: budget(30))
            #expect(first.messages.count == 1)
            let second = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(second.messages.count == 2)
            #expect(Set(first.messages.map(\.id)).isDisjoint(with: second.messages.map(\.id)))
            #expect(first.token != second.token)
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)

            try await store.release(second)
            try await store.release(second)  // releasing twice changes nothing
            let again = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(again.messages == second.messages, "the same envelopes, in the same order")
            #expect(try await readAll(again.messages[0], in: again, from: store) == large)
            // Still claimed by `first`: releasing the others did not free it.
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
            try await store.release(first)
            try await store.release(again)
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.map(\.id) == first.messages.map(\.id) + second.messages.map(\.id))
        }
    }

    @Test("acknowledge deletes for good and frees the storage, content included", arguments: StoreKind.available)
    func acknowledgeFrees(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 16) { stores in
            let store = stores.messages
            _ = try await store.enqueue(header(alice, bob, size: 3), content: [1, 2, 3])
            _ = try await store.enqueue(header(alice, bob, size: 40), content: Array(repeating: 4, count: 40))
            _ = try await upload(Array(repeating: 5, count: 30_000), header(alice, bob, .file, size: 30_000), to: store, piece: 7000)
            let keep = try await store.enqueue(header(alice, carol, size: 1), content: [9])
            #expect(try await stores.footprint() > 0)

            let claim = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(claim.messages.count == 3)
            try await store.acknowledge(claim)
            try await store.acknowledge(claim)  // a second acknowledgement finds nothing left
            try await store.release(claim)  // nor does a release after it
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
            let other = try await store.claim(for: carol, budget: Self.unlimited)
            #expect(other.messages.map(\.id) == [keep], "another inbox is untouched")
            try await store.acknowledge(other)
            #expect(try await stores.footprint() == 0)
        }
    }

    @Test("renew keeps a claim; a claim no longer held cannot be renewed", arguments: StoreKind.available)
    func renew(kind: StoreKind) async throws {
        try await withStores(kind) { stores in
            let store = stores.messages
            let id = try await store.enqueue(header(alice, bob, size: 1), content: [1])
            let claim = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(claim.messages.map(\.id) == [id])
            try await store.renew(claim)
            try await store.recover()
            try await store.renew(claim)
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty, "still held after renewals")
            // An empty claim holds nothing and renews trivially.
            try await store.renew(try await store.claim(for: carol, budget: Self.unlimited))

            try await store.release(claim)
            await expectNotFound { try await store.renew(claim) }
            let taken = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(taken.messages.map(\.id) == [id])
            await expectNotFound { try await store.renew(claim) }
            try await store.acknowledge(taken)
            await expectNotFound { try await store.renew(taken) }
        }
    }

    @Test("expired claims: recover returns them and renewing the lost claim fails (stores with leases)", arguments: StoreKind.available)
    func expiredClaims(kind: StoreKind) async throws {
        try await withStores(kind, claimLease: .zero) { stores in
            let store = stores.messages
            let id = try await store.enqueue(header(alice, bob, size: 1), content: [1])
            let first = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(first.messages.map(\.id) == [id])
            try await store.recover()
            let second = try await store.claim(for: bob, budget: Self.unlimited)
            guard stores.claimsExpire else {
                // Claims here never expire: recovery leaves them held.
                #expect(second.messages.isEmpty)
                try await store.renew(first)
                try await store.acknowledge(first)
                #expect(try await stores.footprint() == 0)
                return
            }
            #expect(second.messages.map(\.id) == [id], "the expired claim was returned and taken again")
            await expectNotFound { try await store.renew(first) }
            try await store.acknowledge(first)
            #expect(try await stores.footprint() > 0, "the lost claim's acknowledgement deletes nothing")
            try await store.acknowledge(second)
            #expect(try await stores.footprint() == 0)
        }
    }

    @Test("uploads: invisible until commit, streamed back whole", arguments: StoreKind.available)
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
                #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
            }
            let id = try await upload.commit()

            let claim = try await store.claim(for: bob, budget: Self.unlimited)
            let message = try #require(claim.messages.first)
            #expect(message.id == id && message.kind == .file && message.contentSize == 700_001 && message.sender == alice)
            #expect(message.inlineContent == nil)
            #expect(try await readAll(message, in: claim, from: store) == content)
            // A content may be opened again while the claim holds it.
            #expect(try await readAll(message, in: claim, from: store) == content)
            // A small upload comes back too, inline or streamed as the store keeps it.
            let small = try await self.upload([1, 2, 3], header(alice, carol, size: 3), to: store)
            let smallClaim = try await store.claim(for: carol, budget: Self.unlimited)
            let smallMessage = try #require(smallClaim.messages.first)
            #expect(smallClaim.messages.map(\.id) == [small])
            var smallContent = smallMessage.inlineContent ?? []
            if smallMessage.inlineContent == nil { smallContent = try await readAll(smallMessage, in: smallClaim, from: store) }
            #expect(smallContent == [1, 2, 3])
            try await store.acknowledge(smallClaim)
            try await store.acknowledge(claim)
            #expect(try await stores.footprint() == 0)
        }
    }

    @Test("uploads: sizeMismatch on commit, and aborted or failed uploads leave nothing", arguments: StoreKind.available)
    func uploadFailures(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 1024) { stores in
            let store = stores.messages
            for size in [500, 5000] {  // gathered in memory, and streamed
                let short = try await store.beginUpload(header(alice, bob, .file, size: size))
                try await short.write(Array(repeating: 1, count: size - 1))
                await #expect(throws: StoreError.sizeMismatch(declared: UInt64(size), written: UInt64(size - 1))) {
                    _ = try await short.commit()
                }
                await short.abort()  // safe after a failed commit

                let long = try await store.beginUpload(header(alice, bob, .file, size: size))
                // Too many bytes fail at the write that overflows, or at the latest at commit.
                await #expect(throws: StoreError.sizeMismatch(declared: UInt64(size), written: UInt64(size + 1))) {
                    try await long.write(Array(repeating: 1, count: size))
                    try await long.write([1])
                    _ = try await long.commit()
                }
                await long.abort()

                let aborted = try await store.beginUpload(header(alice, bob, .file, size: size))
                try await aborted.write(Array(repeating: 1, count: size / 2))
                if size > 1024 && kind != .postgres {
                    // (PostgreSQL's upload is an open transaction, invisible from outside.)
                    #expect(try await stores.footprint() > 0, "the streamed upload holds storage")
                }
                await aborted.abort()
                await aborted.abort()  // twice is harmless
                let never = try await store.beginUpload(header(alice, bob, .file, size: size))
                await never.abort()
            }
            #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
            #expect(try await stores.footprint() == 0)
        }
    }

    @Test("recover is safe at any time: uploads in progress, waiting and claimed messages stay", arguments: StoreKind.available)
    func recoverIsSafe(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 16) { stores in
            let store = stores.messages
            let waiting = try await store.enqueue(header(alice, bob, size: 100), content: Array(repeating: 2, count: 100))
            let held = try await store.enqueue(header(alice, carol, size: 3), content: [3, 3, 3])
            let claim = try await store.claim(for: carol, budget: Self.unlimited)
            let live = try await store.beginUpload(header(alice, bob, .file, size: 64))
            try await live.write(Array(repeating: 4, count: 10))
            try await store.recover()
            try await live.write(Array(repeating: 4, count: 54))
            let committed = try await live.commit()
            try await store.recover()

            #expect(try await store.claim(for: carol, budget: Self.unlimited).messages.isEmpty, "the claim still holds")
            let inbox = try await store.claim(for: bob, budget: Self.unlimited)
            #expect(inbox.messages.map(\.id) == [waiting, committed])
            #expect(try await readAll(inbox.messages[0], in: inbox, from: store) == Array(repeating: 2, count: 100))
            #expect(try await readAll(inbox.messages[1], in: inbox, from: store) == Array(repeating: 4, count: 64))
            try await store.acknowledge(inbox)
            #expect(claim.messages.map(\.id) == [held])
            try await store.acknowledge(claim)
            #expect(try await stores.footprint() == 0)
        }
    }

    @Test("content is only opened through the claim that holds it", arguments: StoreKind.available)
    func openOutsideClaim(kind: StoreKind) async throws {
        try await withStores(kind, inlineLimit: 16) { stores in
            let store = stores.messages
            for seed in [4, 5] as [UInt8] {
                _ = try await upload(Array(repeating: seed, count: 100), header(alice, bob, .file, size: 100), to: store)
            }
            let claim = try await store.claim(for: bob, budget: budget(1))
            let other = try await store.claim(for: bob, budget: budget(1))
            let message = try #require(claim.messages.first)
            let otherMessage = try #require(other.messages.first)
            #expect(try await readAll(message, in: claim, from: store) == Array(repeating: 4, count: 100))
            let stale = MessageClaim(token: claim.token &+ 12345, recipient: bob, messages: claim.messages)
            await expectNotFound { _ = try await store.openContent(of: message, in: stale) }
            await expectNotFound { _ = try await store.openContent(of: otherMessage, in: claim) }
            try await store.release(claim)
            await expectNotFound { _ = try await store.openContent(of: message, in: claim) }
            try await store.acknowledge(other)
            await expectNotFound { _ = try await store.openContent(of: otherMessage, in: other) }
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
                            // 29 bytes per message: up to seven per claim.
                            let claim = try await store.claim(for: bob, budget: ClaimBudget(totalBytes: 29 * 7, perMessageOverhead: 25))
                            if claim.messages.isEmpty { return mine }
                            #expect(claim.messages.count <= 7)
                            #expect(claim.messages.map(\.id) == claim.messages.map(\.id).sorted())
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
            #expect(try await stores.footprint() == 0)
        }
    }
}
