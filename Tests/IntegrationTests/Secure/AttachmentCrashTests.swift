@testable import Adapters
import Application
import Domain
import Foundation
import Logging
import NIOCore
import SealpostWire
import Testing

/// Attachments through `sealpost serve` processes killed with SIGKILL, on the durable stores:
/// an upload cut by the kill resumes from the stored offset after a restart and completes
/// byte for byte; an upload left alone is removed after its TTL (a short one, set in the
/// configuration), with every file or chunk row it had.
@Suite("attachments across kill -9", .serialized)
struct AttachmentCrashTests {
    static let durable = StoreKind.available.filter { $0 != .memory }

    /// A `serve` process on `storeArguments`, with `ttlDays` as the attachment TTL; the
    /// fingerprint and port of its secure server.
    static func start(_ storeArguments: [String], ttlDays: Double, directory: URL) async throws -> (ServerProcess, port: Int, fingerprint: ServerFingerprint) {
        let config = directory.appendingPathComponent("ttl-\(ttlDays).json").path
        try #"{"limits": {"attachmentTTLDays": \#(ttlDays)}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try await ServerProcess.start(arguments: ["--config", config] + storeArguments, lines: 2)
        let line = server.lines[1]
        let port = try #require(ServerProcess.port(in: line))
        let hex = try #require(line.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        return (server, port, try #require(ServerFingerprint(hex: hex)))
    }

    static func session<T: Sendable>(port: Int, fingerprint: ServerFingerprint, _ account: V3TestAccount, _ id: AccountID?,
                                     _ body: (inout AttachmentTransfer, AccountID) async throws -> T) async throws -> T {
        try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .pinned(fingerprint)) { session in
            let probe = V3Probe(session)
            let me: AccountID
            if let id {
                guard case .success = try await probe.authenticate(account, as: id) else { throw ProbeError("AUTHENTICATE refused") }
                me = id
            } else {
                me = try await probe.register(account)
            }
            var transfer = AttachmentTransfer(session: session, chunk: 256 * 1024, window: 8)
            return try await body(&transfer, me)
        }
    }

    /// What the store holds, read beside the server: files and rows of the SQLite database
    /// (the server stopped), or rows of the PostgreSQL schema (the server may run).
    static func usage(_ kind: StoreKind, directory: URL, schema: String?) async throws -> AttachmentUsage {
        switch kind {
        case .sqlite:
            let storage = try await SQLiteStorage.open(path: ServerProcess.sqlitePath(in: directory), logger: AccountTestStores.logger)
            let usage = try await storage.attachments.usage()
            await storage.close()
            return usage
        case .postgres:
            let storage = try await PostgresSchema.connect(try #require(schema))
            let usage = try await storage.attachments.usage()
            await storage.shutdown()
            return usage
        case .memory:
            throw TestSetupError("the memory store does not survive a kill")
        }
    }

    static func attachmentFiles(in directory: URL) -> Int {
        let path = ServerProcess.sqlitePath(in: directory) + ".attachments"
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).count
    }

    @Test("kill -9 mid-upload: after a restart the upload resumes from the stored offset and completes byte for byte", arguments: durable)
    func resumeAfterKill(_ kind: StoreKind) async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var schema: String?
        var store = try await ServerProcess.storeArguments(kind, directory: directory)
        if kind == .postgres {
            schema = try await ServerProcess.freshPostgresSchema()
            store = try ServerProcess.postgresArguments(schema: schema!)
        }
        let content = SecureAttachmentsTests.bytes(6 * 1024 * 1024 + 11, seed: 5)
        let size = UInt64(content.count)
        let alice = try V3TestAccount("alice")
        let bob = try V3TestAccount("bob")

        var (server, port, fingerprint) = try await Self.start(store, ttlDays: 30, directory: directory)
        let bobID = try await Self.session(port: port, fingerprint: fingerprint, bob, nil) { _, id in id }
        let (aliceID, id) = try await Self.session(port: port, fingerprint: fingerprint, alice, nil) { transfer, me in
            let id = try await transfer.create(size: size, recipients: [bobID])
            #expect(try await transfer.upload(id, from: 0, to: 2 * 1024 * 1024, source: SecureAttachmentsTests.source(content)) == 2 * 1024 * 1024)
            // More writes in flight, and the server is killed under them.
            _ = try await transfer.upload(id, from: 2 * 1024 * 1024, to: size, cutAt: 5 * 1024 * 1024, source: SecureAttachmentsTests.source(content))
            await server.kill9()
            return (me, id)
        }

        (server, port, fingerprint) = try await Self.start(store, ttlDays: 30, directory: directory)
        try await Self.session(port: port, fingerprint: fingerprint, alice, aliceID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
            let status = try await transfer.status(id)
            // Everything confirmed before the kill is there; maybe more, never past the cut.
            #expect(status.stored >= 2 * 1024 * 1024 && status.stored <= 5 * 1024 * 1024 && status.size == size)
            #expect(try await transfer.resumeUpload(id, source: SecureAttachmentsTests.source(content)) == size)
        }
        try await Self.session(port: port, fingerprint: fingerprint, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
            var back: [UInt8] = []
            _ = try await transfer.download(id, from: 0, to: size) { back += Array($0.readableBytesView) }
            #expect(back == content)
            #expect(try await transfer.call(.attachDone(id)) == .attachmentRecipientsLeft(0))
        }
        #expect(await server.terminate() == 0)
        #expect(try await Self.usage(kind, directory: directory, schema: schema) == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        if kind == .sqlite { #expect(Self.attachmentFiles(in: directory) == 0) }
    }

    @Test("an upload abandoned by kill -9 is removed after its TTL, with all its storage", arguments: durable)
    func abandonedUploadExpires(_ kind: StoreKind) async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var schema: String?
        var store = try await ServerProcess.storeArguments(kind, directory: directory)
        if kind == .postgres {
            schema = try await ServerProcess.freshPostgresSchema()
            store = try ServerProcess.postgresArguments(schema: schema!)
        }
        // Four seconds; housekeeping then runs every second.
        let ttlDays = 4.0 / 86_400
        let alice = try V3TestAccount("alice")
        let bob = try V3TestAccount("bob")
        var (server, port, fingerprint) = try await Self.start(store, ttlDays: ttlDays, directory: directory)
        let bobID = try await Self.session(port: port, fingerprint: fingerprint, bob, nil) { _, id in id }
        try await Self.session(port: port, fingerprint: fingerprint, alice, nil) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
            let id = try await transfer.create(size: 50_000_000, recipients: [bobID])
            _ = try await transfer.upload(id, from: 0, to: 50_000_000, cutAt: 3 * 1024 * 1024) { _, count in ByteBuffer(repeating: 0x5A, count: count) }
            await server.kill9()
        }
        if kind == .sqlite { #expect(Self.attachmentFiles(in: directory) == 1) }
        if kind == .postgres {
            let left = try await Self.usage(kind, directory: directory, schema: schema)
            #expect(left.attachments == 1 && left.storageUnits > 0)
        }

        // A restarted server removes it once its TTL has passed, with its file or chunk rows.
        (server, port, fingerprint) = try await Self.start(store, ttlDays: ttlDays, directory: directory)
        let gone = try await eventually(timeout: .seconds(30), every: .milliseconds(250)) {
            switch kind {
            case .sqlite: return Self.attachmentFiles(in: directory) == 0
            default: return try await Self.usage(kind, directory: directory, schema: schema).attachments == 0
            }
        }
        #expect(gone)
        #expect(await server.terminate() == 0)
        #expect(try await Self.usage(kind, directory: directory, schema: schema) == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
    }
}
