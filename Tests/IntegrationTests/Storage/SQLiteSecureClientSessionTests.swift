import Adapters
@testable import Application
import Domain
import Foundation
import GRDB
import Testing

/// The stored session's binary form (`EndToEndSessionEncoding`), and the v3 client store's
/// reading of the JSON rows stores wrote before it.
@Suite("Client store: sessions in their binary form, JSON rows migrated")
struct SQLiteSecureClientSessionTests {
    static func bytes(_ start: UInt8, _ count: Int = 32) -> [UInt8] { (0..<count).map { start &+ UInt8(truncatingIfNeeded: $0) } }

    /// A session with every field set: optionals present, skipped and retired keys.
    static func fullSession() -> EndToEndSession {
        var skipped: [RatchetState.SkippedKey] = []
        for n in 0..<5 {
            let number = UInt32(n) * 1000 + 7
            let storedAt = UInt64(1_764_000_000_000) + UInt64(n)
            skipped.append(RatchetState.SkippedKey(ratchetKey: bytes(UInt8(n)), messageNumber: number, messageKey: bytes(0x80 + UInt8(n)),
                                                   storedAt: storedAt))
        }
        let ratchet = RatchetState(
            rootKey: bytes(1), sendingPrivateKey: bytes(2), sendingPublicKey: bytes(3), receivingKey: bytes(4), sendingChainKey: bytes(5),
            receivingChainKey: bytes(6), sendCount: 0xFFFF_FFFF, receiveCount: 12, previousSendCount: 3, skipped: skipped,
            retiredReceivingKeys: [bytes(7), bytes(8)])
        return EndToEndSession(
            localAccount: bytes(0x11, 16), remoteAccount: bytes(0x22, 16), remoteSigningKey: bytes(9), remoteAgreementKey: bytes(10),
            remoteAgreementKeySignature: bytes(11, 64), associatedData: bytes(12, 160), ratchet: ratchet, pendingPrekeyPart: bytes(13, 150),
            initiatingEphemeralKey: bytes(14))
    }

    /// A session as a responder holds it before its first reply: every optional absent, no skipped keys.
    static func bareSession() -> EndToEndSession {
        var session = fullSession()
        session.pendingPrekeyPart = nil
        session.initiatingEphemeralKey = nil
        session.ratchet.receivingKey = nil
        session.ratchet.sendingChainKey = nil
        session.ratchet.receivingChainKey = nil
        session.ratchet.skipped = []
        session.ratchet.retiredReceivingKeys = []
        return session
    }

    @Test("a session comes back equal from its binary form, every optional present or absent")
    func roundTrip() throws {
        for session in [Self.fullSession(), Self.bareSession()] {
            let encoded = EndToEndSessionEncoding.encode(session)
            #expect(encoded.prefix(2) == [0x00, 0x01])
            #expect(EndToEndSessionEncoding.isBinary(encoded))
            #expect(try EndToEndSessionEncoding.decode(encoded) == session)
            // Far smaller than the JSON it replaces.
            let json = try JSONEncoder().encode(session)
            #expect(encoded.count * 3 < json.count)
        }
    }

    @Test("a truncated, extended or altered binary form is refused, never misread")
    func malformed() throws {
        let encoded = EndToEndSessionEncoding.encode(Self.fullSession())
        for length in 0..<encoded.count {
            #expect(throws: EndToEndSessionEncoding.FormatError.self) { try EndToEndSessionEncoding.decode(Array(encoded.prefix(length))) }
        }
        #expect(throws: EndToEndSessionEncoding.FormatError.self) { try EndToEndSessionEncoding.decode(encoded + [0]) }
        var version = encoded
        version[1] = 2
        #expect(throws: EndToEndSessionEncoding.FormatError.self) { try EndToEndSessionEncoding.decode(version) }
        // The first optional (pendingPrekeyPart) follows six fields of known sizes.
        let flagOffset = 2 + (4 + 16) * 2 + (4 + 32) * 2 + (4 + 64) + (4 + 160)
        #expect(encoded[flagOffset] == 1)
        var flag = encoded
        flag[flagOffset] = 2
        #expect(throws: EndToEndSessionEncoding.FormatError.self) { try EndToEndSessionEncoding.decode(flag) }
        // A length that claims more than is left.
        var length = encoded
        length[2] = 0xFF
        #expect(throws: EndToEndSessionEncoding.FormatError.self) { try EndToEndSessionEncoding.decode(length) }
    }

    @Test("a session stored as JSON (before the binary form) is read, and written back binary on the next save")
    func jsonRowMigrates() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(SQLiteSecureClientStore.fileName).path
        let store = try SQLiteSecureClientStore.open(path: path)
        let session = Self.fullSession()
        let peer = session.remote
        // What the store wrote before: the Codable JSON, in the same table and by another writer.
        let legacy = try DatabaseQueue(path: path)
        try await legacy.write { db in
            try db.execute(sql: "INSERT INTO session (peer, state) VALUES (?, ?)", arguments: [Data(session.remoteAccount), try JSONEncoder().encode(session)])
            try db.execute(sql: "INSERT INTO archived_session (peer, state) VALUES (?, ?)",
                           arguments: [Data(session.remoteAccount), try JSONEncoder().encode(Self.bareSession())])
        }
        #expect(try await store.read { try $0.session(with: peer) } == session)
        #expect(try await store.read { try $0.hasSession(with: peer) })
        #expect(try await store.read { try $0.archivedSessions(with: peer).map(\.session) } == [Self.bareSession()])
        let storedBefore = try await legacy.read { db in try Data.fetchOne(db, sql: "SELECT state FROM session") }
        #expect(storedBefore?.first == UInt8(ascii: "{"))

        var advanced = session
        advanced.ratchet.receiveCount += 1
        let saved = advanced
        try await store.write { try $0.saveSession(saved) }
        let storedAfter = try #require(try await legacy.read { db in try Data.fetchOne(db, sql: "SELECT state FROM session") })
        #expect(EndToEndSessionEncoding.isBinary(storedAfter))
        #expect(try EndToEndSessionEncoding.decode([UInt8](storedAfter)) == advanced)
        #expect(try await store.read { try $0.session(with: peer) } == advanced)
        #expect(try await store.read { try $0.hasSession(with: AccountID(bytes: Self.bytes(0x33, 16))!) } == false)
        // WAL, durable commits, and the WAL readable by the owner only, like the database.
        #expect(try await legacy.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
        let walMode = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.posixPermissions] as? Int
        #expect(walMode == 0o600)
    }

    @Test("a one-time prekey is read by its id alone")
    func oneTimePrekeyByID() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteSecureClientStore.open(path: directory.appendingPathComponent(SQLiteSecureClientStore.fileName).path)
        try await store.write { try $0.addOneTimePrekeys([(id: 7, privateKey: Self.bytes(7)), (id: 8, privateKey: Self.bytes(8))]) }
        #expect(try await store.read { try $0.oneTimePrekey(id: 8) } == Self.bytes(8))
        try await store.write { try $0.deleteOneTimePrekey(id: 8) }
        #expect(try await store.read { try $0.oneTimePrekey(id: 8) } == nil)
        #expect(try await store.read { try $0.oneTimePrekey(id: 7) } == Self.bytes(7))
    }
}
