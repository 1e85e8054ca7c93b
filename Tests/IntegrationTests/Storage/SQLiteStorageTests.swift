@testable import Adapters
import Application
import Domain
import Foundation
import Logging
import Testing

/// A fresh directory holding one database, removed when the test ends.
private struct Scratch {
    let directory: URL
    var databasePath: String { directory.appendingPathComponent("sealpost.sqlite").path }
    var blobPath: String { databasePath + ".blobs" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func open(inlineLimit: UInt32 = 64 * 1024) async throws -> SQLiteStorage {
        try await SQLiteStorage.open(path: databasePath, logger: Logger(label: "test.sqlite"), inlineLimit: inlineLimit)
    }

    func blobFiles(suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: blobPath).filter { $0.hasSuffix(suffix) }
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

private func client(_ name: String, id: UInt64) throws -> RegisteredClient {
    RegisteredClient(
        id: ClientID(high: 0, low: id), name: try ClientName(name),
        publicKey: try PublicKey(bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: id), count: 160)))
}

private let alice = ClientID(high: 1, low: 1)
private let bob = ClientID(high: 2, low: 2)

private func header(_ size: Int, kind: MessageKind = .text, to recipient: ClientID = bob) -> MessageHeader {
    MessageHeader(sender: alice, recipient: recipient, kind: kind, contentSize: UInt32(size))
}

private func readAll(_ reader: any MessageContentReader) async throws -> [UInt8] {
    var out: [UInt8] = []
    while let piece = try await reader.next() { out.append(contentsOf: piece) }
    await reader.close()
    return out
}

/// What only the SQLite store does; what every store promises is in `StoreContractTests`.
@Suite("SQLiteStorage")
struct SQLiteStorageTests {
    static let unlimited = ClaimBudget(totalBytes: .max, perMessageOverhead: 25)

    @Test func recordSeenNotesAreWrittenOnFlush() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let clients = storage.clients
        try await clients.register(client("zoe", id: 10))
        await clients.recordSeen(ClientID(high: 0, low: 10), at: 1234.5)
        await clients.recordSeen(ClientID(high: 0, low: 77), at: 1.0)  // unknown: ignored
        await clients.flushSeen()
        #expect(try await clients.lastSeen(ClientID(high: 0, low: 10)) == 1234.5)
        #expect(try await clients.lastSeen(ClientID(high: 0, low: 77)) == nil)
        await storage.close()
    }

    @Test func largeUploadIsInvisibleUntilCommitAndStreamsBack() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        let size = 5 * 1024 * 1024
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
        let upload = try await store.beginUpload(header(size, kind: .file))
        for start in stride(from: 0, to: size, by: 64 * 1024) {
            try await upload.write(Array(content[start..<min(size, start + 64 * 1024)]))
        }
        #expect(try scratch.blobFiles(suffix: ".part").count == 1)
        #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
        let id = try await upload.commit()
        #expect(try scratch.blobFiles(suffix: ".part").isEmpty)
        #expect(try scratch.blobFiles(suffix: ".blob").count == 1)

        let claim = try await store.claim(for: bob, budget: Self.unlimited)
        #expect(claim.messages.map(\.id) == [id])
        let envelope = try #require(claim.messages.first)
        #expect(envelope.inlineContent == nil && envelope.contentSize == UInt32(size))
        #expect(try await readAll(store.openContent(of: envelope, in: claim)) == content)
        try await store.acknowledge(claim)
        #expect(try scratch.blobFiles(suffix: ".blob").isEmpty)
        await storage.close()
    }

    @Test func recoverRemovesOrphanFilesOnly() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open(inlineLimit: 8)
        let store = storage.messages
        _ = try await store.enqueue(header(64), content: [UInt8](repeating: 3, count: 64))
        let live = try await store.beginUpload(header(64))
        try await live.write([UInt8](repeating: 4, count: 10))
        for orphan in ["crashed.part", "orphan.blob"] {
            _ = FileManager.default.createFile(atPath: "\(scratch.blobPath)/\(orphan)", contents: Data([1, 2, 3]))
        }
        try await store.recover()
        #expect(try scratch.blobFiles(suffix: ".blob").count == 1)
        #expect(try scratch.blobFiles(suffix: ".part").count == 1)  // the live upload's
        try await live.write([UInt8](repeating: 4, count: 54))
        _ = try await live.commit()
        let claim = try await store.claim(for: bob, budget: Self.unlimited)
        #expect(claim.messages.count == 2)
        for envelope in claim.messages {
            #expect(try await readAll(store.openContent(of: envelope, in: claim)).count == 64)
        }
        await storage.close()
    }

    @Test func reopenedStoreKeepsMessagesAndRemovesLeftovers() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open(inlineLimit: 8)
        _ = try await storage.messages.enqueue(header(3), content: [1, 2, 3])
        _ = try await storage.messages.enqueue(header(20), content: [UInt8](repeating: 5, count: 20))
        let interrupted = try await storage.messages.beginUpload(header(20))
        try await interrupted.write([1])
        try await storage.clients.register(client("carol", id: 3))
        await storage.close()

        let reopened = try await scratch.open(inlineLimit: 8)
        #expect(try scratch.blobFiles(suffix: ".part").isEmpty)
        #expect(try await reopened.clients.allClients().map(\.name.value) == ["carol"])
        let claim = try await reopened.messages.claim(for: bob, budget: Self.unlimited)
        #expect(claim.messages.map(\.id.rawValue) == [1, 2])
        #expect(claim.messages.first?.inlineContent == [1, 2, 3])
        let next = try await reopened.messages.enqueue(header(1), content: [9])
        #expect(next.rawValue == 3)
        await reopened.close()
    }

    @Test func concurrentEnqueuesShareTransactions() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        // Idle: the first write commits at once, alone, without waiting for company.
        #expect(try await store.enqueue(header(1), content: [0]) == MessageID(1))
        #expect(store.insertTransactions == 1)
        let ids = try await withThrowingTaskGroup(of: MessageID.self) { group in
            for index in 0..<200 {
                group.addTask { try await store.enqueue(header(2), content: [UInt8(index % 256), 1]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(ids).count == 200)
        #expect(Set(ids.map(\.rawValue)) == Set(2...201))
        let transactions = store.insertTransactions - 1
        #expect(transactions < 200, "200 concurrent enqueues took \(transactions) transactions")
        let claim = try await store.claim(for: bob, budget: Self.unlimited)
        #expect(claim.messages.count == 201)
        #expect(claim.messages.map(\.id) == claim.messages.map(\.id).sorted())
        // 201 rows: deleted in chunks of 64 and one by one for the rest.
        try await store.acknowledge(claim)
        #expect(try await store.storedMessages() == 0)
        #expect(try await store.claim(for: bob, budget: Self.unlimited).messages.isEmpty)
        await storage.close()
    }

    @Test func idsPast32BitsAreKeptWhole() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open(inlineLimit: 8)
        let store = storage.messages
        let past = Int64(1) << 32 + 5
        try await store.continueIDs(at: past)
        let first = try await store.enqueue(header(3), content: [1, 2, 3])
        let second = try await store.enqueue(header(20), content: [UInt8](repeating: 5, count: 20))
        #expect([first, second].map(\.rawValue) == [UInt64(past), UInt64(past) + 1])
        let claim = try await store.claim(for: bob, budget: Self.unlimited)
        #expect(claim.messages.map(\.id) == [first, second])
        #expect(try await readAll(store.openContent(of: claim.messages[1], in: claim)) == [UInt8](repeating: 5, count: 20))
        try await store.acknowledge(claim)
        #expect(try await store.storedMessages() == 0)
        await storage.close()
    }

    /// Claims read in snapshots on reader connections: a snapshot taken before an
    /// acknowledgement committed still shows the deleted rows, and the book must keep them
    /// out of reach until that read is over.
    @Test func rowsDeletedUnderAReadStayOutOfReachUntilItEnds() {
        let book = SQLiteClaimBook()
        let early = book.beginRead()
        let (token, held) = book.open([MessageID(1): .init(rowID: 1, blobName: nil), MessageID(2): .init(rowID: 2, blobName: nil)], of: bob, after: book.beginRead())
        #expect(held.count == 2 && book.isClaimed(1, in: bob))
        #expect(book.marks(of: bob) == [1, 2] && book.marks(of: alice).isEmpty, "marks are kept per inbox")
        book.acknowledged(token)
        #expect(book.isClaimed(1, in: bob) && book.isClaimed(2, in: bob), "the early read may still see rows 1 and 2")
        let late = book.beginRead()
        #expect(book.open([MessageID(1): .init(rowID: 1, blobName: nil)], of: bob, after: early).held.isEmpty, "the early read found a deleted row")
        // Only the late read is left, and it began after the delete: it cannot see the rows.
        #expect(!book.isClaimed(1, in: bob) && !book.isClaimed(2, in: bob) && book.markedRows == 0)
        book.endRead(late)

        // Without reads in progress an acknowledgement unmarks at once; a release always does.
        let (other, _) = book.open([MessageID(3): .init(rowID: 3, blobName: nil)], of: bob, after: book.beginRead())
        book.acknowledged(other)
        #expect(!book.isClaimed(3, in: bob))
        let read = book.beginRead()
        let (released, _) = book.open([MessageID(4): .init(rowID: 4, blobName: nil)], of: bob, after: book.beginRead())
        book.release(released)
        #expect(!book.isClaimed(4, in: bob) && book.openClaims == 0)
        book.endRead(read)
    }

    /// Claims queued together are read in one snapshot by the claims' thread, one after
    /// another: a claim must not return what a claim before it in the same batch took.
    @Test func concurrentClaimsOfOneInboxSplitItWithoutOverlap() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        for index in 0..<400 {
            _ = try await store.enqueue(header(100, to: index % 4 == 0 ? alice : bob), content: [UInt8](repeating: UInt8(index % 256), count: 100))
        }
        let budget = ClaimBudget(totalBytes: 7 * 125, perMessageOverhead: 25)
        let claims = try await withThrowingTaskGroup(of: MessageClaim.self) { group in
            for index in 0..<64 {
                group.addTask { try await store.claim(for: index % 8 == 0 ? alice : bob, budget: budget) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for recipient in [alice, bob] {
            let taken = claims.filter { $0.recipient == recipient }.flatMap(\.messages).map(\.id)
            #expect(Set(taken).count == taken.count, "a message of \(recipient) was claimed twice")
            #expect(taken.count == min(recipient == alice ? 8 * 7 : 56 * 7, recipient == alice ? 100 : 300))
        }
        // Acknowledged concurrently: each delete commits, then its claim leaves the book.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for claim in claims where !claim.messages.isEmpty { group.addTask { try await store.acknowledge(claim) } }
            try await group.waitForAll()
        }
        #expect(store.openClaims == 0)
        let delivered = claims.reduce(0) { $0 + $1.messages.count }
        #expect(try await store.storedMessages() == 400 - delivered)
        let rest = try await store.claim(for: bob, budget: Self.unlimited)
        #expect(rest.messages.count == 300 - claims.filter { $0.recipient == bob }.reduce(0) { $0 + $1.messages.count })
        #expect(Set(rest.messages.map(\.id)).isDisjoint(with: claims.flatMap(\.messages).map(\.id)))
        await storage.close()
    }

    @Test func claimsAlongsideAcknowledgementsNeverReturnDeletedRows() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        for index in 0..<300 { _ = try await store.enqueue(header(100), content: [UInt8](repeating: UInt8(index % 256), count: 100)) }
        // Acknowledgements (one fsync each, on the writer) and claims run side by side; every
        // message is delivered exactly once, and no claim returns a message already deleted.
        var delivered: [MessageID] = []
        while true {
            let claim = try await store.claim(for: bob, budget: ClaimBudget(totalBytes: 10 * 125, perMessageOverhead: 25))
            if claim.messages.isEmpty {
                if store.openClaims == 0 { break }
                await Task.yield()
                continue
            }
            delivered += claim.messages.map(\.id)
            Task { try await store.acknowledge(claim) }
        }
        #expect(delivered.count == 300 && Set(delivered).count == 300)
        #expect(try await store.storedMessages() == 0)
        await storage.close()
    }
}
