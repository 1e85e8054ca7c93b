import Adapters
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

@Suite("SQLiteStorage")
struct SQLiteStorageTests {
    @Test func registersClientsInOrderWithUniqueNames() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let clients = storage.clients
        let names = ["zoe", "adam", "mia"]
        for (index, name) in names.enumerated() {
            try await clients.register(client(name, id: UInt64(10 - index)))
        }
        #expect(try await clients.allClients().map(\.name.value) == names)
        #expect(try await clients.client(withID: ClientID(high: 0, low: 9)) == client("adam", id: 9))
        #expect(try await clients.client(withID: ClientID(high: 0, low: 99)) == nil)
        await #expect(throws: DomainError.nameTaken(try ClientName("adam"))) {
            try await clients.register(client("adam", id: 50))
        }
        await #expect(throws: StoreError.duplicateID) {
            try await clients.register(client("newcomer", id: 10))
        }
        #expect(try await clients.allClients().count == 3)

        await clients.recordSeen(ClientID(high: 0, low: 10), at: 1234.5)
        await clients.recordSeen(ClientID(high: 0, low: 77), at: 1.0)  // unknown: ignored
        await clients.flushSeen()
        #expect(try await clients.lastSeen(ClientID(high: 0, low: 10)) == 1234.5)
        await storage.close()
    }

    @Test func enqueueClaimReleaseAcknowledge() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        var ids: [MessageID] = []
        for text in ["one", "two", "three"] {
            ids.append(try await store.enqueue(header(text.utf8.count), content: Array(text.utf8)))
        }
        ids.append(try await store.enqueue(header(0, kind: .keyRequest), content: []))
        #expect(ids == [1, 2, 3, 4].map(MessageID.init))

        let first = try await store.claim(for: bob, maxBytes: 1 << 20)
        #expect(first.messages.map(\.id) == ids)
        #expect(first.messages.map { $0.inlineContent.map { String(decoding: $0, as: UTF8.self) } } == ["one", "two", "three", ""])
        #expect(first.messages[3].kind == .keyRequest)
        #expect(try await store.claim(for: bob, maxBytes: 1 << 20).messages.isEmpty)
        #expect(try await store.claim(for: alice, maxBytes: 1 << 20).messages.isEmpty)

        try await store.release(first)
        let second = try await store.claim(for: bob, maxBytes: 1 << 20)
        #expect(second.messages.map(\.id) == ids)
        try await store.acknowledge(second)
        try await store.acknowledge(second)  // a second acknowledgement finds nothing left
        #expect(try await store.claim(for: bob, maxBytes: 1 << 20).messages.isEmpty)
        #expect(store.openClaims == 0)
        await storage.close()
    }

    @Test func claimStopsAtMaxBytesButAlwaysTakesTheFirst() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        for _ in 0..<3 { _ = try await store.enqueue(header(100), content: [UInt8](repeating: 7, count: 100)) }
        let alone = try await store.claim(for: bob, maxBytes: 10)
        #expect(alone.messages.map(\.id.rawValue) == [1])
        let two = try await store.claim(for: bob, maxBytes: 250)
        #expect(two.messages.map(\.id.rawValue) == [2, 3])
        await storage.close()
    }

    @Test func concurrentClaimsNeverShareAMessage() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open()
        let store = storage.messages
        for index in 0..<60 { _ = try await store.enqueue(header(4), content: [0, 0, 0, UInt8(index)]) }
        let claims = try await withThrowingTaskGroup(of: MessageClaim.self) { group in
            for _ in 0..<8 { group.addTask { try await store.claim(for: bob, maxBytes: 29 * 5) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let ids = claims.flatMap { $0.messages.map(\.id) }
        #expect(Set(ids).count == ids.count)
        #expect(ids.count == 40)
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
        #expect(try await store.claim(for: bob, maxBytes: 1 << 40).messages.isEmpty)
        let id = try await upload.commit()
        #expect(try scratch.blobFiles(suffix: ".part").isEmpty)
        #expect(try scratch.blobFiles(suffix: ".blob").count == 1)

        let claim = try await store.claim(for: bob, maxBytes: 1 << 40)
        #expect(claim.messages.map(\.id) == [id])
        let envelope = try #require(claim.messages.first)
        #expect(envelope.inlineContent == nil && envelope.contentSize == UInt32(size))
        #expect(try await readAll(store.openContent(of: envelope, in: claim)) == content)
        try await store.acknowledge(claim)
        #expect(try scratch.blobFiles(suffix: ".blob").isEmpty)
        await storage.close()
    }

    @Test func openContentRefusesMessagesOutsideTheClaim() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open(inlineLimit: 8)
        let store = storage.messages
        _ = try await store.enqueue(header(32), content: [UInt8](repeating: 9, count: 32))
        let claim = try await store.claim(for: bob, maxBytes: 1 << 20)
        let envelope = try #require(claim.messages.first)
        #expect(envelope.inlineContent == nil)
        #expect(try await readAll(store.openContent(of: envelope, in: claim)) == [UInt8](repeating: 9, count: 32))
        try await store.release(claim)
        await #expect(throws: StoreError.self) { _ = try await store.openContent(of: envelope, in: claim) }
        await storage.close()
    }

    @Test func abortAndSizeMismatchFreeThePartFile() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let storage = try await scratch.open(inlineLimit: 16)
        let store = storage.messages
        let aborted = try await store.beginUpload(header(1000))
        try await aborted.write([UInt8](repeating: 1, count: 500))
        #expect(try scratch.blobFiles(suffix: ".part").count == 1)
        await aborted.abort()
        await aborted.abort()
        #expect(try scratch.blobFiles(suffix: ".part").isEmpty)

        let short = try await store.beginUpload(header(1000))
        try await short.write([UInt8](repeating: 1, count: 999))
        await #expect(throws: StoreError.sizeMismatch(declared: 1000, written: 999)) { _ = try await short.commit() }
        let long = try await store.beginUpload(header(1000))
        await #expect(throws: StoreError.sizeMismatch(declared: 1000, written: 1001)) {
            try await long.write([UInt8](repeating: 1, count: 1001))
        }
        await long.abort()
        #expect(try scratch.blobFiles(suffix: ".part").isEmpty)
        #expect(try await store.claim(for: bob, maxBytes: 1 << 20).messages.isEmpty)
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
        let claim = try await store.claim(for: bob, maxBytes: 1 << 20)
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
        let claim = try await reopened.messages.claim(for: bob, maxBytes: 1 << 20)
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
        let claim = try await store.claim(for: bob, maxBytes: 1 << 30)
        #expect(claim.messages.count == 201)
        #expect(claim.messages.map(\.id) == claim.messages.map(\.id).sorted())
        await storage.close()
    }
}
