@testable import Adapters
import Domain
import Foundation
import NIOCore
import Synchronization
import Testing

/// `kill -9` while a large upload and a large pull are both in flight: after a restart no
/// half file is ever delivered, the message being pulled is delivered exactly once, and
/// no storage is left behind.
@Suite("Crash during file transfers", .serialized)
struct CrashFileTests {
    static var durableKinds: [StoreKind] { StoreKind.available.filter { $0 != .memory } }

    /// The upload declares this much and is killed after about `uploadBeforeKill` of it.
    static let uploadSize = 128 * 1024 * 1024
    static let uploadBeforeKill = 32 * 1024 * 1024
    /// The message being pulled when the server dies.
    static let pulledSize = 16 * 1024 * 1024 + 17

    @Test("kill -9 mid-upload and mid-pull: no half file, nothing lost, nothing leaked", arguments: durableKinds)
    func killDuringTransfers(kind: StoreKind) async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let schema = kind == .postgres ? try await ServerProcess.freshPostgresSchema() : nil
        let arguments = if let schema {
            try ServerProcess.postgresArguments(schema: schema)
        } else {
            try await ServerProcess.storeArguments(kind, directory: directory)
        }

        var server = try await ServerProcess.start(arguments: arguments)
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")

        // Carol's file is stored whole before the crash.
        let pulled = Self.markedContent(count: Self.pulledSize, fill: 0xC3)
        #expect(try await server.request(Requests.send(alice, to: carol, type: 4, content: pulled)).code == 1003)

        let progress = Progress()
        let port = server.port
        // Bob's file streams in 1 MiB pieces and never completes.
        let upload = Task {
            try await Self.partialUpload(from: alice, to: bob, port: port, progress: progress)
        }
        // Carol's pull reads 1 MiB of the reply and then stops reading.
        let pull = Task {
            try await Self.stalledPull(carol, port: port, progress: progress)
        }
        try await eventually(timeout: .seconds(60)) {
            progress.uploaded.withLock { $0 } >= Self.uploadBeforeKill && progress.pullStarted.withLock { $0 }
        }
        #expect(progress.uploaded.withLock { $0 } >= Self.uploadBeforeKill, "the upload never got going")
        #expect(progress.pullStarted.withLock { $0 }, "the pull never got going")
        if let path = kind == .sqlite ? ServerProcess.sqlitePath(in: directory) : nil {
            // The upload in flight is a part file beside the stored blob.
            // (The server may lag behind what the client has written: give it a moment.)
            var files: [String] = []
            let inFlight = try await eventually(timeout: .seconds(15), every: .milliseconds(50)) {
                files = try FileManager.default.contentsOfDirectory(atPath: path + ".blobs")
                return files.contains { $0.hasSuffix(".part") }
            }
            #expect(inFlight, "no upload in flight: \(files)")
        }
        await server.kill9()
        progress.killed.withLock { $0 = true }
        let uploadReply = (try? await upload.value) ?? []
        #expect(uploadReply.isEmpty, "the unfinished upload was answered")
        let pullBytes = (try? await pull.value) ?? 0
        #expect(pullBytes < 7 + 25 + Self.pulledSize, "the pull finished before the crash")

        server = try await ServerProcess.start(arguments: arguments)
        if let schema {
            // The dead process's claim survives with its lease (600 s by default); stand in
            // for the lease running out instead of waiting for it.
            let storage = try await PostgresTestDatabase.connect(schema: schema)
            let claimed = try await storage.messages.pool.withConnection {
                try $0.execute("UPDATE messages SET claimed_until = now() - interval '1 second' WHERE claim_token IS NOT NULL").affected
            }
            await storage.shutdown()
            #expect(claimed == 1, "the pull in flight held no claim")
        }

        // No half file: Bob's upload never completed, so nothing at all arrives for him.
        let bobs = try await server.request(Requests.pull(bob))
        #expect(bobs.code == 1004)
        #expect(bobs.messages.isEmpty, "a file whose upload was cut was delivered: \(bobs.messages.map(\.content.count))")
        // Carol's file arrives whole, once.
        let carols = try await server.request(Requests.pull(carol))
        #expect(carols.messages.count == 1)
        if let message = carols.messages.first {
            #expect(message.type == 4 && message.from == alice)
            #expect(message.content.count == pulled.count && Bytes.same(message.content, pulled), "the file came back changed")
        }
        #expect(try await server.request(Requests.pull(carol)).messages.isEmpty, "delivered twice")

        // Nothing left in storage.
        if kind == .sqlite {
            // A delivered file is unlinked after its row's delete committed, which may come
            // after the next pull was answered: give it a moment.
            let blobs = ServerProcess.sqlitePath(in: directory) + ".blobs"
            var files: [String] = []
            let emptied = try await eventually(timeout: .seconds(15), every: .milliseconds(20)) {
                files = try FileManager.default.contentsOfDirectory(atPath: blobs)
                return files.isEmpty
            }
            #expect(emptied, "leaked content files: \(files)")
        }
        if let schema {
            let storage = try await PostgresTestDatabase.connect(schema: schema)
            let chunks = try await PostgresTestDatabase.count("message_chunks", in: storage)
            let messages = try await PostgresTestDatabase.count("messages", in: storage)
            await storage.shutdown()
            #expect(chunks == 0, "leaked chunk rows")
            #expect(messages == 0, "leaked message rows")
        }
        #expect(await server.terminate() == 0)
    }

    /// Content of `count` bytes of `fill` with a few distinct marker bytes, built cheaply.
    static func markedContent(count: Int, fill: UInt8) -> [UInt8] {
        var bytes = [UInt8](repeating: fill, count: count)
        for (index, offset) in [0, 1, count / 3, count / 2, count - 2, count - 1].enumerated() {
            bytes[offset] = UInt8(index + 1)
        }
        return bytes
    }

    /// Streams a send declaring `uploadSize`, stops short of it, waits for the kill and
    /// returns whatever the server answered.
    static func partialUpload(from sender: ClientID, to recipient: ClientID, port: Int, progress: Progress) async throws -> [UInt8] {
        let channel = try await RawClient.connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            var head = Requests.header(sender, code: 103, size: UInt32(21 + uploadSize)) + recipient.bytes + [4]
            head += withUnsafeBytes(of: UInt32(uploadSize).littleEndian) { Array($0) }
            do {
                try await outbound.write(ByteBuffer(bytes: head))
                let piece = ByteBuffer(repeating: 0x5A, count: 1024 * 1024)
                // Keep going until well past the kill point, but never finish.
                while progress.uploaded.withLock({ $0 }) < uploadSize - 2 * piece.readableBytes && !progress.killed.withLock({ $0 }) {
                    try await outbound.write(piece)
                    progress.uploaded.withLock { $0 += piece.readableBytes }
                    if progress.uploaded.withLock({ $0 }) >= uploadBeforeKill {
                        // Pacing, not a wait: past the kill point the upload slows down, so
                        // that it is still in flight when the kill comes.
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            } catch {
                // The server died under the write.
            }
            try await progress.untilKilled()
            var received: [UInt8] = []
            do {
                for try await buffer in inbound { received += buffer.readableBytesView }
            } catch {}
            return received
        }
    }

    /// Sends a pull, reads about 1 MiB of the reply, then stops reading until the kill.
    /// Returns how many bytes of the reply arrived in all.
    static func stalledPull(_ recipient: ClientID, port: Int, progress: Progress) async throws -> Int {
        let channel = try await RawClient.connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: Requests.pull(recipient)))
            var iterator = inbound.makeAsyncIterator()
            var count = 0
            do {
                while count < 1024 * 1024, let buffer = try await iterator.next() { count += buffer.readableBytes }
            } catch {}
            progress.pullStarted.withLock { $0 = true }
            try await progress.untilKilled()
            do {
                while let buffer = try await iterator.next() { count += buffer.readableBytes }
            } catch {}
            return count
        }
    }

    final class Progress: Sendable {
        let uploaded = Mutex(0)
        let pullStarted = Mutex(false)
        let killed = Mutex(false)

        /// Returns once the server has been killed (the test's own deadline is 60 s for the
        /// transfers to get going, so two minutes here means the test itself is stuck).
        func untilKilled() async throws {
            guard try await eventually(timeout: .seconds(120), every: .milliseconds(10), { killed.withLock { $0 } }) else {
                throw TestSetupError("the server was never killed")
            }
        }
    }
}
