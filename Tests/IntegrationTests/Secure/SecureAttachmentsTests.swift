import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Synchronization
import Testing

/// A wall clock the test moves by hand, for attachment TTLs.
final class SteppedWallClock: WallClock {
    private let seconds: Mutex<Double>

    init(_ start: Double = 1_800_000_000) { seconds = Mutex(start) }

    func now() -> Double { seconds.withLock { $0 } }

    func advance(days: Double) { seconds.withLock { $0 += days * 86_400 } }
}

/// v3 attachments (docs/protocol-v3.md §9) over real TLS and every store: pipelined upload
/// and download, byte for byte; resumption after a cut connection both ways; who may do
/// what; deletion once every recipient is done; TTL expiry with its storage.
@Suite("secure attachments", .serialized)
struct SecureAttachmentsTests {
    struct Setup {
        let server: SecureTestServer
        let stores: AccountTestStores
        let useCases: AccountUseCases
        let clock: SteppedWallClock
    }

    static func withServer<T>(_ kind: StoreKind, _ body: (Setup) async throws -> T) async throws -> T {
        try await AccountTestStores.with(kind) { stores in
            let clock = SteppedWallClock()
            let useCases = AccountUseCases(
                accounts: stores.accounts, queue: stores.envelopes, notifier: stores.notifier,
                verifier: OpenSSLSignatureVerifier(), clock: clock, limits: AccountLimits(), attachments: stores.attachments,
                attachmentQuota: stores.attachmentQuota)
            return try await SecureTestServer.with(router: SecureRequestRouter(useCases: useCases)) { server in
                try await body(Setup(server: server, stores: stores, useCases: useCases, clock: clock))
            }
        }
    }

    /// Runs `body` on a new session signed in as `account` (registering it when `id` is nil).
    @discardableResult
    static func session<T: Sendable>(_ server: SecureTestServer, _ account: V3TestAccount, _ id: AccountID? = nil,
                                     _ body: (inout AttachmentTransfer, AccountID) async throws -> T) async throws -> T {
        try await withPinnedSession(server) { session in
            let probe = V3Probe(session)
            let me: AccountID
            if let id {
                guard case .success = try await probe.authenticate(account, as: id) else { throw ProbeError("AUTHENTICATE refused") }
                me = id
            } else {
                me = try await probe.register(account)
            }
            var transfer = AttachmentTransfer(session: session, chunk: 256 * 1024, window: 6)
            return try await body(&transfer, me)
        }
    }

    static func bytes(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 10)) &+ seed }
    }

    static func source(_ bytes: [UInt8]) -> (UInt64, Int) -> ByteBuffer {
        { offset, count in ByteBuffer(bytes: bytes[Int(offset)..<(Int(offset) + count)]) }
    }

    /// The error code a transfer call failed with.
    static func code(_ body: () async throws -> Void) async -> V3ErrorCode? {
        do {
            try await body()
            return nil
        } catch AttachmentTransfer.Failure.refused(let error) {
            return error.knownCode
        } catch {
            return nil
        }
    }

    @Test("upload and download, pipelined: byte for byte; the uploader may read too", arguments: StoreKind.available)
    func roundTrip(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let content = Self.bytes(3 * 1024 * 1024 + 17)
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(setup.server, bob) { _, id in id }
            let id = try await Self.session(setup.server, try V3TestAccount("alice")) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                let id = try await transfer.create(size: UInt64(content.count), recipients: [bobID, bobID])
                #expect(try await transfer.status(id) == V3AttachmentStatus(
                    size: UInt64(content.count), stored: 0, expiresAt: UInt64(setup.clock.now() * 1000) + 30 * 86_400_000))
                #expect(try await transfer.upload(id, from: 0, to: UInt64(content.count), source: Self.source(content)) == UInt64(content.count))
                var back: [UInt8] = []
                _ = try await transfer.download(id, from: 0, to: UInt64(content.count)) { back += Array($0.readableBytesView) }
                #expect(back == content)
                return id
            }
            try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                #expect(try await transfer.status(id).isComplete)
                var back: [UInt8] = []
                _ = try await transfer.download(id, from: 0, to: UInt64(content.count)) { back += Array($0.readableBytesView) }
                #expect(back == content)
                // Asking from the end, or past it, gives nothing.
                #expect(try await transfer.call(.attachRead(id, offset: UInt64(content.count), length: 10)) == .attachmentData(ByteBuffer()))
            }
            let usage = try await setup.stores.attachments.usage()
            #expect(usage.attachments == 1 && usage.bytes == UInt64(content.count))
        }
    }

    @Test("a deep pipeline: 24 writes and 24 reads of a frame's worth in flight are answered in order, byte for byte", arguments: StoreKind.available)
    func deepPipeline(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let chunk = Int(V3Frame.defaultMaxLength) - 64
            let content = Self.bytes(24 * chunk + 1, seed: 4)
            let size = UInt64(content.count)
            try await withPinnedSession(setup.server) { session in
                let probe = V3Probe(session)
                let me = try await probe.register(try V3TestAccount("alice"))
                // The session's worker runs them one at a time and stops reading while it holds
                // more than a few chunks; the client never waits for an answer before sending.
                var transfer = AttachmentTransfer(session: session, chunk: chunk, window: 24)
                let id = try await transfer.create(size: size, recipients: [me])
                #expect(try await transfer.upload(id, from: 0, to: size, source: Self.source(content)) == size)
                var back: [UInt8] = []
                _ = try await transfer.download(id, from: 0, to: size) { back += Array($0.readableBytesView) }
                #expect(back == content)
            }
        }
    }

    @Test("consecutive writes sent at once, the last past the size: each answered as if alone (the worker stores runs of them together)",
          arguments: StoreKind.available)
    func gatheredWritesFallBack(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let chunk = 200_000
            let content = Self.bytes(3 * chunk, seed: 9)
            let size = UInt64(2 * chunk + 10)
            try await withPinnedSession(setup.server) { session in
                let probe = V3Probe(session)
                let me = try await probe.register(try V3TestAccount("alice"))
                var transfer = AttachmentTransfer(session: session, chunk: chunk, window: 1)
                let id = try await transfer.create(size: size, recipients: [me])
                // Four writes in one go: three in sequence (the third runs past the size), then
                // one at an offset that is not the stored one.
                let writes: [(UInt32, UInt64, Int)] = [(900, 0, chunk), (901, UInt64(chunk), chunk), (902, UInt64(2 * chunk), chunk),
                                                       (903, 5, 10)]
                for (requestID, offset, count) in writes {
                    let data = ByteBuffer(bytes: content[Int(offset)..<(Int(offset) + count)])
                    try await session.send(.attachWrite(id, offset: offset, data: data), requestID: requestID)
                }
                var answers: [UInt32: V3ServerMessage] = [:]
                while answers.count < writes.count, let message = try await session.next() {
                    switch message {
                    case .result(let requestID, _), .error(let requestID, _): answers[requestID] = message
                    default: continue
                    }
                }
                func stored(_ requestID: UInt32) throws -> UInt64? {
                    guard case .result(_, let body) = answers[requestID],
                          case .attachmentStored(let offset) = try V3Result.decode(answering: .attachWrite, body: body) else { return nil }
                    return offset
                }
                func code(_ requestID: UInt32) -> V3ErrorCode? {
                    guard case .error(_, let error) = answers[requestID] else { return nil }
                    return error.knownCode
                }
                #expect(try stored(900) == UInt64(chunk))
                #expect(try stored(901) == UInt64(2 * chunk))
                #expect(code(902) == .tooLarge)
                #expect(code(903) == .wrongOffset)
                #expect(try await transfer.status(id).stored == UInt64(2 * chunk))
                // The rest, then every byte back as written.
                let tail = ByteBuffer(bytes: content[(2 * chunk)..<(2 * chunk + 10)])
                #expect(try await transfer.call(.attachWrite(id, offset: UInt64(2 * chunk), data: tail)) == .attachmentStored(size))
                var back: [UInt8] = []
                _ = try await transfer.download(id, from: 0, to: size) { back += Array($0.readableBytesView) }
                #expect(back == Array(content[0..<Int(size)]))
            }
        }
    }

    @Test("consecutive reads sent at once, one too large, some past the end: each answered as if alone (the worker reads runs of them together)",
          arguments: StoreKind.available)
    func gatheredReadsFallBack(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let content = Self.bytes(300_000, seed: 5)
            let size = UInt64(content.count)
            try await withPinnedSession(setup.server) { session in
                let probe = V3Probe(session)
                let me = try await probe.register(try V3TestAccount("alice"))
                var transfer = AttachmentTransfer(session: session, chunk: 100_000, window: 3)
                let id = try await transfer.create(size: size, recipients: [me])
                #expect(try await transfer.upload(id, from: 0, to: size, source: Self.source(content)) == size)
                let tooLarge = UInt32(session.hello.maxFrameBytes)
                let runs: [[(UInt32, UInt64, UInt32)]] = [
                    // In sequence, the last two past the end: the bytes up to it, then nothing.
                    [(910, 0, 100_000), (911, 100_000, 150_000), (912, 250_000, 100_000), (913, 350_000, 10)],
                    // In sequence, one over the largest read: refused alone.
                    [(920, 0, 1_000), (921, 1_000, tooLarge), (922, 1_000 + UInt64(tooLarge), 5)],
                ]
                for run in runs {
                    for (requestID, offset, length) in run {
                        try await session.send(.attachRead(id, offset: offset, length: length), requestID: requestID)
                    }
                    var answers: [UInt32: V3ServerMessage] = [:]
                    while answers.count < run.count, let message = try await session.next() {
                        switch message {
                        case .result(let requestID, _), .error(let requestID, _): answers[requestID] = message
                        default: continue
                        }
                    }
                    for (requestID, offset, length) in run {
                        guard case .result(_, let body) = answers[requestID] else {
                            guard case .error(_, let error) = answers[requestID] else { Issue.record("no answer to \(requestID)"); continue }
                            #expect(requestID == 921 && error.knownCode == .tooLarge)
                            continue
                        }
                        let start = min(Int(offset), content.count)
                        let expected = Array(content[start..<min(start + Int(length), content.count)])
                        #expect(try V3Result.decode(answering: .attachRead, body: body) == .attachmentData(ByteBuffer(bytes: expected)),
                                "request \(requestID)")
                    }
                }
            }
        }
    }

    @Test("an upload cut mid-way resumes from ATTACH_STATUS on a new connection; a write elsewhere is wrongOffset", arguments: StoreKind.available)
    func resumeUpload(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let content = Self.bytes(2 * 1024 * 1024 + 5, seed: 9)
            let size = UInt64(content.count)
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(setup.server, bob) { _, id in id }
            let alice = try V3TestAccount("alice")
            let (aliceID, id) = try await Self.session(setup.server, alice) { (transfer: inout AttachmentTransfer, me: AccountID) async throws in
                let id = try await transfer.create(size: size, recipients: [bobID])
                // Cut at 1 MiB + 3 with writes in flight: the connection closes under them.
                _ = try await transfer.upload(id, from: 0, to: size, cutAt: 1024 * 1024 + 3, source: Self.source(content))
                return (me, id)
            }
            try await Self.session(setup.server, alice, aliceID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                let stored = try await transfer.status(id).stored
                #expect(stored <= 1024 * 1024 + 3)
                // A write anywhere but the stored offset changes nothing.
                #expect(await Self.code { _ = try await transfer.call(.attachWrite(id, offset: stored + 1, data: ByteBuffer(bytes: [1]))) } == .wrongOffset)
                if stored > 0 {
                    #expect(await Self.code { _ = try await transfer.call(.attachWrite(id, offset: 0, data: ByteBuffer(bytes: [1]))) } == .wrongOffset)
                }
                // A write the cut left running may land meanwhile: resumeUpload asks again then.
                #expect(try await transfer.resumeUpload(id, source: Self.source(content)) == size)
                // Complete: no more writes.
                #expect(await Self.code { _ = try await transfer.call(.attachWrite(id, offset: size, data: ByteBuffer(bytes: [1]))) } == .tooLarge)
            }
            try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                var back: [UInt8] = []
                _ = try await transfer.download(id, from: 0, to: size) { back += Array($0.readableBytesView) }
                #expect(back == content)
            }
        }
    }

    @Test("a download cut mid-way resumes where the copy ends, on a new connection", arguments: StoreKind.available)
    func resumeDownload(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let content = Self.bytes(2 * 1024 * 1024 + 333, seed: 3)
            let size = UInt64(content.count)
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(setup.server, bob) { _, id in id }
            let id = try await Self.session(setup.server, try V3TestAccount("alice")) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                let id = try await transfer.create(size: size, recipients: [bobID])
                _ = try await transfer.upload(id, from: 0, to: size, source: Self.source(content))
                return id
            }
            var back: [UInt8] = []
            let have = try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                try await transfer.download(id, from: 0, to: size, cutAt: 700_001) { back += Array($0.readableBytesView) }
            }
            #expect(have == UInt64(back.count) && have <= 700_001)
            try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                _ = try await transfer.download(id, from: have, to: size) { back += Array($0.readableBytesView) }
                #expect(try await transfer.call(.attachDone(id)) == .attachmentRecipientsLeft(0))
            }
            #expect(back == content)
            #expect(try await setup.stores.attachments.usage() == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        }
    }

    @Test("only the uploader writes and deletes, only it and its recipients read; limits are enforced", arguments: StoreKind.available)
    func permissionsAndLimits(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(setup.server, bob) { _, id in id }
            let carol = try V3TestAccount("carol")
            let carolID = try await Self.session(setup.server, carol) { _, id in id }
            let content = Self.bytes(100_000)
            let alice = try V3TestAccount("alice")
            let (aliceID, id) = try await Self.session(setup.server, alice) { (transfer: inout AttachmentTransfer, me: AccountID) async throws in
                let unknown = AccountID(bytes: [UInt8](repeating: 0x42, count: 16))!
                #expect(await Self.code { _ = try await transfer.create(size: 10, recipients: [unknown]) } == .noSuchAccount)
                #expect(await Self.code { _ = try await transfer.create(size: 0, recipients: [bobID]) } == .tooLarge)
                #expect(await Self.code { _ = try await transfer.create(size: AccountLimits.defaultMaxAttachmentBytes + 1, recipients: [bobID]) } == .tooLarge)
                let id = try await transfer.create(size: UInt64(content.count), recipients: [bobID])
                _ = try await transfer.upload(id, from: 0, to: 50_000, source: Self.source(content))
                // Not complete: no one reads it yet.
                #expect(await Self.code { _ = try await transfer.call(.attachRead(id, offset: 0, length: 10)) } == .attachmentIncomplete)
                _ = try await transfer.upload(id, from: 50_000, to: UInt64(content.count), source: Self.source(content))
                #expect(await Self.code { _ = try await transfer.call(.attachRead(id, offset: 0, length: 1_048_561)) } == .tooLarge)
                // The uploader is no recipient.
                #expect(await Self.code { _ = try await transfer.call(.attachDone(id)) } == .noSuchAttachment)
                return (me, id)
            }
            // Carol, named by no one: the attachment does not exist for her.
            try await Self.session(setup.server, carol, carolID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                for request in [V3Request.attachStatus(id), .attachRead(id, offset: 0, length: 10), .attachDone(id), .attachDelete(id),
                                .attachWrite(id, offset: UInt64(content.count), data: ByteBuffer(bytes: [1]))] {
                    #expect(await Self.code { _ = try await transfer.call(request) } == .noSuchAttachment, "\(request.type)")
                }
                let unknown = AttachmentID(bytes: [UInt8](repeating: 0x77, count: 16))!
                #expect(await Self.code { _ = try await transfer.status(unknown) } == .noSuchAttachment)
            }
            // Bob reads, but neither writes nor deletes.
            try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                #expect(try await transfer.call(.attachRead(id, offset: 99_990, length: 100)) == .attachmentData(ByteBuffer(bytes: content[99_990...])))
                #expect(await Self.code { _ = try await transfer.call(.attachWrite(id, offset: UInt64(content.count), data: ByteBuffer(bytes: [1]))) } == .noSuchAttachment)
                #expect(await Self.code { _ = try await transfer.call(.attachDelete(id)) } == .noSuchAttachment)
            }
            // The uploader deletes it: gone for everyone, storage too.
            try await Self.session(setup.server, alice, aliceID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                #expect(try await transfer.call(.attachDelete(id)) == .done)
                #expect(await Self.code { _ = try await transfer.status(id) } == .noSuchAttachment)
            }
            #expect(try await setup.stores.attachments.usage() == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        }
    }

    @Test("deleted once every recipient has sent ATTACH_DONE, not before", arguments: StoreKind.available)
    func deletedWhenAllDone(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(setup.server, bob) { _, id in id }
            let carol = try V3TestAccount("carol")
            let carolID = try await Self.session(setup.server, carol) { _, id in id }
            let content = Self.bytes(300_000)
            let id = try await Self.session(setup.server, try V3TestAccount("alice")) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                let id = try await transfer.create(size: UInt64(content.count), recipients: [bobID, carolID])
                _ = try await transfer.upload(id, from: 0, to: UInt64(content.count), source: Self.source(content))
                return id
            }
            try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                #expect(try await transfer.call(.attachDone(id)) == .attachmentRecipientsLeft(1))
                #expect(try await transfer.call(.attachDone(id)) == .attachmentRecipientsLeft(1))
            }
            try await Self.session(setup.server, carol, carolID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                var back: [UInt8] = []
                _ = try await transfer.download(id, from: 0, to: UInt64(content.count)) { back += Array($0.readableBytesView) }
                #expect(back == content)
                #expect(try await transfer.call(.attachDone(id)) == .attachmentRecipientsLeft(0))
                #expect(await Self.code { _ = try await transfer.status(id) } == .noSuchAttachment)
            }
            #expect(try await setup.stores.attachments.usage() == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        }
    }

    @Test("after attachmentTTLDays an attachment, complete or abandoned, is refused, then cleaned up with its storage", arguments: StoreKind.available)
    func ttlExpiry(_ kind: StoreKind) async throws {
        try await Self.withServer(kind) { setup in
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(setup.server, bob) { _, id in id }
            let content = Self.bytes(600_000)
            let alice = try V3TestAccount("alice")
            let (aliceID, complete, abandoned) = try await Self.session(setup.server, alice) { (transfer: inout AttachmentTransfer, me: AccountID) async throws in
                let complete = try await transfer.create(size: UInt64(content.count), recipients: [bobID])
                _ = try await transfer.upload(complete, from: 0, to: UInt64(content.count), source: Self.source(content))
                let abandoned = try await transfer.create(size: 10_000_000, recipients: [bobID])
                // Left a twentieth of the way, as by a client that went away.
                _ = try await transfer.upload(abandoned, from: 0, to: 500_000, source: { _, count in ByteBuffer(repeating: 7, count: count) })
                return (me, complete, abandoned)
            }
            setup.clock.advance(days: 29.9)
            #expect(try await setup.useCases.attachments!.expire() == 0)
            try await Self.session(setup.server, bob, bobID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                #expect(try await transfer.status(complete).isComplete)
            }
            setup.clock.advance(days: 0.1)
            try await Self.session(setup.server, alice, aliceID) { (transfer: inout AttachmentTransfer, _: AccountID) async throws in
                #expect(await Self.code { _ = try await transfer.status(complete) } == .noSuchAttachment)
                #expect(await Self.code { _ = try await transfer.status(abandoned) } == .noSuchAttachment)
            }
            #expect(try await setup.stores.attachments.usage().attachments == 2)
            #expect(try await setup.useCases.attachments!.expire() == 2)
            #expect(try await setup.stores.attachments.usage() == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        }
    }
}
