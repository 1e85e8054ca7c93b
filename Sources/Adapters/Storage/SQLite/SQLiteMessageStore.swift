import Application
import Domain
import Foundation
import GRDB
import Logging

/// Waiting messages in the `messages` table; large contents in files beside the database.
///
/// Writes go through group commit: concurrent `enqueue`, upload `commit` and `acknowledge`
/// calls share one transaction and one fsync, on the writer connection. Claims read on the
/// pool's reader connections, so a pull never waits for a commit, and are held in memory
/// (`SQLiteClaimBook`): the store serves one process, and after a crash every message is
/// simply waiting again. A message's id is its row id.
public final class SQLiteMessageStore: MessageStore {
    /// A message ready to be inserted: its content in the row or in a sealed blob file.
    struct NewMessage: Sendable {
        let header: MessageHeader
        let content: [UInt8]?
        let blob: String?
    }

    /// The size of the pieces `openContent` hands out.
    static let readChunk = 512 * 1024

    let blobs: BlobDirectory
    let live = SQLiteLiveBlobs()
    let inlineLimit: UInt32
    private let pool: DatabasePool
    private let logger: Logger
    private let book = SQLiteClaimBook()
    private let batcher: SQLiteCommitBatcher<Write, Int64>

    /// One write of a group commit.
    enum Write: Sendable {
        /// Returns the new row's id.
        case insert(NewMessage)
        /// Deletes delivered rows; returns 0.
        case delete([Int64])
    }

    init(pool: DatabasePool, blobs: BlobDirectory, inlineLimit: UInt32, maxBatch: Int, logger: Logger) {
        self.pool = pool
        self.blobs = blobs
        self.inlineLimit = inlineLimit
        self.logger = logger
        self.batcher = SQLiteCommitBatcher(maxBatch: maxBatch) { batch in
            try pool.write { db in try Self.apply(batch, to: db) }
        }
    }

    /// How many group-commit transactions have inserted messages, for tests.
    public var insertTransactions: Int { batcher.transactions }

    /// How many claims are open, for tests.
    public var openClaims: Int { book.openClaims }

    /// Stores a message whose content is in memory; durable when it returns. A content
    /// larger than the inline limit is written to its own file first.
    ///
    /// - Throws: `StoreError.sizeMismatch` when `content` is not `header.contentSize` bytes.
    public func enqueue(_ header: MessageHeader, content: [UInt8]) async throws -> MessageID {
        guard content.count == Int(header.contentSize) else {
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: UInt64(content.count))
        }
        guard content.count > Int(inlineLimit) else {
            return try await insert(NewMessage(header: header, content: content, blob: nil))
        }
        let name = live.start()
        defer { live.end(name) }
        try await SQLiteErrors.mapping { try await blobs.store(content, as: name) }
        return try await insertSealed(header, blob: name)
    }

    /// Starts a message whose content arrives in pieces. Contents up to the inline limit are
    /// gathered in memory; larger ones are appended to a part file as they arrive.
    public func beginUpload(_ header: MessageHeader) async throws -> any MessageUpload {
        try await SQLiteMessageUpload.start(header, in: self)
    }

    /// Claims the oldest unclaimed messages of `recipient` that `budget` admits.
    ///
    /// Reads on a reader connection, in a snapshot: it waits for no commit, and claims of
    /// other inboxes run alongside. The book then takes the rows no other claim took
    /// meanwhile, and keeps rows deleted after the snapshot began out of reach.
    public func claim(for recipient: ClientID, budget: ClaimBudget) async throws -> MessageClaim {
        let key = Data(recipient.bytes)
        let book = self.book
        let read = book.beginRead()
        let picked: [(Envelope, SQLiteClaimBook.Held)]
        do {
            picked = try await SQLiteErrors.mapping {
                try await pool.read { db in try Self.candidates(of: key, within: budget, skipping: book, in: db) }
            }
        } catch {
            book.endRead(read)
            throw error
        }
        let (token, held) = book.open(
            Dictionary(picked.map { ($0.0.id, $0.1) }, uniquingKeysWith: { first, _ in first }), after: read)
        return MessageClaim(token: token, recipient: recipient, messages: picked.map(\.0).filter { held[$0.id] != nil })
    }

    /// The oldest rows of the inbox `key` that no claim holds, as long as `budget` admits
    /// them. Blocking.
    private static func candidates(
        of key: Data, within budget: ClaimBudget, skipping book: SQLiteClaimBook, in db: Database
    ) throws -> [(Envelope, SQLiteClaimBook.Held)] {
        var budget = budget
        let statement = try db.cachedStatement(sql: """
            SELECT id, sender, kind, content_size, content, blob FROM messages
            WHERE recipient = ? ORDER BY id
            """)
        let rows = try Row.fetchCursor(statement, arguments: [key])
        var picked: [(Envelope, SQLiteClaimBook.Held)] = []
        while let row = try rows.next() {
            // Only the id and the size of a row passed over are decoded.
            let rowID: Int64 = row[0]
            if book.isClaimed(rowID) { continue }
            guard let size = UInt32(exactly: row[3] as Int64) else {
                throw StoreError.unavailable("message row \(rowID) is malformed")
            }
            guard !budget.isExhausted, budget.admit(contentSize: size) else { break }
            picked.append(try envelope(from: row))
        }
        return picked
    }

    /// Opens the content of a message held by `claim`, streamed from its file.
    ///
    /// - Throws: `StoreError.notFound` when the message is not held by `claim`.
    public func openContent(of message: Envelope, in claim: MessageClaim) async throws -> any MessageContentReader {
        guard let held = book.held(message.id, by: claim.token) else {
            throw StoreError.notFound("message \(message.id) in claim \(claim.token)")
        }
        guard let blob = held.blobName else {
            // Kept in the row: the claim handed it out already.
            let bytes = try await inlineContent(of: held.rowID)
            return PieceReader(pieces: [bytes])
        }
        let fd = try await SQLiteErrors.mapping { try await blobs.openBlob(blob) }
        return BlobContentReader(blobs: blobs, fd: fd, chunk: Self.readChunk)
    }

    /// Deletes the messages of `claim` (in a group commit, with whatever else is being
    /// written), then unlinks their files.
    public func acknowledge(_ claim: MessageClaim) async throws {
        let held = book.all(of: claim.token)
        guard !held.isEmpty else { return }
        let rowIDs = held.map(\.rowID)
        _ = try await SQLiteErrors.mapping { try await batcher.submit(.delete(rowIDs)) }
        book.acknowledged(claim.token)
        await blobs.remove(held.compactMap(\.blobName).map(blobs.blobPath))
    }

    /// Claims live in memory until acknowledged or released: renewing only checks that
    /// `claim` still holds its messages.
    ///
    /// - Throws: `StoreError.notFound` when it was released or acknowledged.
    public func renew(_ claim: MessageClaim) throws {
        guard !claim.messages.isEmpty, !book.isOpen(claim.token) else { return }
        throw StoreError.notFound("claim \(claim.token) (released or acknowledged)")
    }

    /// Gives the messages of `claim` back to their inbox.
    public func release(_ claim: MessageClaim) async throws {
        book.release(claim.token)
    }

    /// Makes the next message's id `next` (when it is above every id used so far), for tests
    /// of ids past 2^32.
    func continueIDs(at next: Int64) async throws {
        try await SQLiteErrors.mapping {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM sqlite_sequence WHERE name = 'messages'")
                try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)", arguments: [next - 1])
            }
        }
    }

    /// How many messages are stored, claimed or not, for tests.
    public func storedMessages() async throws -> Int {
        try await SQLiteErrors.mapping {
            try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM messages") ?? 0 }
        }
    }

    /// Removes part files of interrupted uploads and blob files no row refers to. Uploads in
    /// progress are left alone, so this is safe at any time. Claims live in memory and never
    /// expire, so there are none to return.
    public func recover() async throws {
        guard live.beginSweep() else { return }
        let listing: Result<(referenced: Set<String>, files: [String]), any Error>
        do {
            let referenced = try await pool.read { db in
                try Set(String.fetchAll(db, sql: "SELECT blob FROM messages WHERE blob IS NOT NULL"))
            }
            listing = .success((referenced, try await blobs.list()))
        } catch {
            listing = .failure(error)
        }
        let protected = live.endSweep()
        let (referenced, files) = try await SQLiteErrors.mapping { try listing.get() }
        var doomed: [String] = []
        for file in files {
            if file.hasSuffix(BlobDirectory.partSuffix) {
                let name = String(file.dropLast(BlobDirectory.partSuffix.count))
                if !protected.contains(name) { doomed.append(file) }
            } else if file.hasSuffix(BlobDirectory.blobSuffix) {
                let name = String(file.dropLast(BlobDirectory.blobSuffix.count))
                if !protected.contains(name) && !referenced.contains(name) { doomed.append(file) }
            }
        }
        guard !doomed.isEmpty else { return }
        await blobs.remove(doomed.map { "\(blobs.path)/\($0)" })
        logger.notice("removed leftover content files", metadata: ["count": "\(doomed.count)"])
    }

    /// Inserts a message through group commit and returns its id.
    func insert(_ message: NewMessage) async throws -> MessageID {
        let rowID = try await SQLiteErrors.mapping { try await batcher.submit(.insert(message)) }
        return MessageID(UInt64(bitPattern: rowID))
    }

    /// Inserts a message whose content is the sealed blob `name`; unlinks the file when the
    /// insert fails.
    func insertSealed(_ header: MessageHeader, blob name: String) async throws -> MessageID {
        do {
            return try await insert(NewMessage(header: header, content: nil, blob: name))
        } catch {
            await blobs.remove([blobs.blobPath(name)])
            throw error
        }
    }

    private func inlineContent(of rowID: Int64) async throws -> [UInt8] {
        try await SQLiteErrors.mapping {
            try await pool.read { db in
                let data = try Data.fetchOne(db, sql: "SELECT content FROM messages WHERE id = ?", arguments: [rowID])
                guard let data else { throw StoreError.notFound("message row \(rowID)") }
                return [UInt8](data)
            }
        }
    }

    /// Ends the group-commit thread once what is queued is written.
    func stop() async {
        await batcher.stop()
    }

    private static func apply(_ batch: [Write], to db: Database) throws -> [Int64] {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO messages (recipient, sender, kind, content_size, content, blob)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        let delete = try db.cachedStatement(sql: "DELETE FROM messages WHERE id = ?")
        return try batch.map { write in
            switch write {
            case .insert(let message):
                try insert.execute(arguments: [
                    Data(message.header.recipient.bytes), Data(message.header.sender.bytes),
                    Int64(message.header.kind.rawValue), Int64(message.header.contentSize),
                    message.content.map { Data($0) }, message.blob,
                ])
                return db.lastInsertedRowID
            case .delete(let rowIDs):
                for rowID in rowIDs { try delete.execute(arguments: [rowID]) }
                return 0
            }
        }
    }

    /// Decodes a row of `SELECT id, sender, kind, content_size, content, blob`.
    private static func envelope(from row: Row) throws -> (Envelope, SQLiteClaimBook.Held) {
        let rowID: Int64 = row[0]
        let senderBytes: Data = row[1]
        let kindCode: Int64 = row[2]
        let size: Int64 = row[3]
        guard let sender = ClientID(bytes: senderBytes),
              let kind = MessageKind(rawValue: UInt8(truncatingIfNeeded: kindCode)),
              let contentSize = UInt32(exactly: size) else {
            throw StoreError.unavailable("message row \(rowID) is malformed")
        }
        let blob: String? = row[5]
        let content: Data? = blob == nil ? row[4] : nil
        let envelope = Envelope(
            id: MessageID(UInt64(bitPattern: rowID)), sender: sender, kind: kind,
            contentSize: contentSize, inlineContent: content.map { [UInt8]($0) })
        return (envelope, SQLiteClaimBook.Held(rowID: rowID, blobName: blob))
    }
}
