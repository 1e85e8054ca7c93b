import Application
import Domain
import Foundation
import GRDB
import Logging

/// Waiting messages in the `messages` table; large contents in files beside the database.
///
/// Writes go through group commit: concurrent `enqueue`, upload `commit` and `acknowledge`
/// calls share one transaction and one fsync, on the writer connection. Claims are read by a
/// thread of their own on a reader connection, so a pull never waits for a commit, and are
/// held in memory (`SQLiteClaimBook`): the store serves one process, and after a crash
/// every message is simply waiting again. A message's id is its row id.
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
    /// The claims' thread: it reads the claims queued meanwhile in one snapshot, in the
    /// synchronous API of the pool, and opens each in the book before it answers.
    private let claims: SQLiteCommitBatcher<ClaimRequest, Result<MessageClaim, any Error>>

    /// One write of a group commit.
    enum Write: Sendable {
        /// Returns the new row's id.
        case insert(NewMessage)
        /// Deletes the rows of the acknowledged claim `token`; returns 0. The claim leaves
        /// the book once the transaction has committed.
        case delete(token: UInt64, rows: [Int64])
    }

    /// A claim waiting for the claims' thread.
    struct ClaimRequest: Sendable {
        let recipient: ClientID
        let budget: ClaimBudget
    }

    init(pool: DatabasePool, blobs: BlobDirectory, inlineLimit: UInt32, maxBatch: Int, logger: Logger) {
        self.pool = pool
        self.blobs = blobs
        self.inlineLimit = inlineLimit
        self.logger = logger
        let book = self.book
        self.batcher = SQLiteCommitBatcher(maxBatch: maxBatch) { batch in
            let outputs = try pool.write { db in try Self.apply(batch, to: db) }
            // Committed with synchronous = FULL: the rows are gone for every later snapshot.
            for case .delete(let token, _) in batch { book.acknowledged(token) }
            return outputs
        }
        self.claims = SQLiteCommitBatcher(maxBatch: 64, name: "sealpost-claims") { requests in
            try Self.claim(requests, in: pool, book: book)
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
    /// Read by the claims' thread on a reader connection, in a snapshot: it waits for no
    /// commit. The book then takes the rows no other claim took meanwhile, and keeps rows
    /// deleted after the snapshot began out of reach.
    public func claim(for recipient: ClientID, budget: ClaimBudget) async throws -> MessageClaim {
        try await SQLiteErrors.mapping {
            try await claims.submit(ClaimRequest(recipient: recipient, budget: budget)).get()
        }
    }

    /// Reads the candidates of `requests` in one snapshot and opens a claim for each, one
    /// after another, so that a claim sees the rows the claims before it took. Blocking; runs
    /// on the claims' thread.
    private static func claim(
        _ requests: [ClaimRequest], in pool: DatabasePool, book: SQLiteClaimBook
    ) throws -> [Result<MessageClaim, any Error>] {
        // Announced before the snapshot opens (at the first SELECT).
        var reads = requests.map { _ in book.beginRead() }
        defer { for read in reads { book.endRead(read) } }
        let results = try pool.read { db in
            requests.indices.map { index -> Result<MessageClaim, any Error> in
                let request = requests[index]
                var found = Candidates()
                do {
                    try candidates(of: request.recipient, within: request.budget, skipping: book.marks(of: request.recipient), into: &found, in: db)
                } catch {
                    return .failure(error)
                }
                var held: [MessageID: SQLiteClaimBook.Held] = [:]
                held.reserveCapacity(found.held.count)
                for (envelope, row) in zip(found.envelopes, found.held) { held[envelope.id] = row }
                let (token, taken) = book.open(held, of: request.recipient, after: reads[index])
                let messages = taken.count == found.envelopes.count ? found.envelopes : found.envelopes.filter { taken[$0.id] != nil }
                return .success(MessageClaim(token: token, recipient: request.recipient, messages: messages))
            }
        }
        // Every read ended in `open`.
        reads.removeAll()
        return results
    }

    /// What a claim read found: its messages, and what the book keeps of each.
    private struct Candidates {
        var envelopes: [Envelope] = []
        var held: [SQLiteClaimBook.Held] = []
    }

    /// The oldest rows of the inbox `recipient` that are not `marked`, as long as `budget`
    /// admits them. Blocking.
    private static func candidates(
        of recipient: ClientID, within budget: ClaimBudget, skipping marked: Set<Int64>,
        into found: inout Candidates, in db: Database
    ) throws {
        var budget = budget
        let statement = try db.cachedStatement(sql: """
            SELECT id, sender, kind, content_size, content, blob FROM messages
            WHERE recipient = ? ORDER BY id
            """)
        let rows = try Row.fetchCursor(statement, arguments: [Data(recipient.bytes)])
        while let row = try rows.next() {
            // Only the id and the size of a row passed over are decoded.
            let rowID: Int64 = row[0]
            if marked.contains(rowID) { continue }
            guard let size = UInt32(exactly: row[3] as Int64) else {
                throw StoreError.unavailable("message row \(rowID) is malformed")
            }
            guard !budget.isExhausted, budget.admit(contentSize: size) else { break }
            let (envelope, held) = try envelope(from: row, id: rowID, size: size)
            found.envelopes.append(envelope)
            found.held.append(held)
        }
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
        // The commit thread forgets the claim in the book once the delete has committed.
        _ = try await SQLiteErrors.mapping { try await batcher.submit(.delete(token: claim.token, rows: rowIDs)) }
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

    /// Ends the claims' thread and the group-commit thread once what is queued is done.
    func stop() async {
        await claims.stop()
        await batcher.stop()
    }

    /// How many rows one `DELETE … IN` takes.
    private static let deleteChunk = 64
    private static let deleteManySQL =
        "DELETE FROM messages WHERE id IN (" + Array(repeating: "?", count: deleteChunk).joined(separator: ", ") + ")"

    private static func apply(_ batch: [Write], to db: Database) throws -> [Int64] {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO messages (recipient, sender, kind, content_size, content, blob)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        let delete = try db.cachedStatement(sql: "DELETE FROM messages WHERE id = ?")
        let deleteMany = try db.cachedStatement(sql: Self.deleteManySQL)
        return try batch.map { write in
            switch write {
            case .insert(let message):
                try insert.execute(arguments: [
                    Data(message.header.recipient.bytes), Data(message.header.sender.bytes),
                    Int64(message.header.kind.rawValue), Int64(message.header.contentSize),
                    message.content.map { Data($0) }, message.blob,
                ])
                return db.lastInsertedRowID
            case .delete(_, let rowIDs):
                // A delivery deletes hundreds of rows: one statement per chunk rather than
                // one per row.
                var start = rowIDs.startIndex
                while rowIDs.endIndex - start >= Self.deleteChunk {
                    try deleteMany.execute(arguments: StatementArguments(rowIDs[start..<start + Self.deleteChunk]))
                    start += Self.deleteChunk
                }
                for rowID in rowIDs[start...] { try delete.execute(arguments: [rowID]) }
                return 0
            }
        }
    }

    /// Decodes a row of `SELECT id, sender, kind, content_size, content, blob` whose id and
    /// size are read already. The sender and the content are read in place, without an
    /// intermediate copy.
    private static func envelope(from row: Row, id rowID: Int64, size contentSize: UInt32) throws -> (Envelope, SQLiteClaimBook.Held) {
        let sender = try row.withUnsafeData(atIndex: 1) { data in
            data.flatMap { data in
                data.count == ClientID.byteCount ? data.withUnsafeBytes { raw in
                    ClientID(
                        high: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                        low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                } : nil
            }
        }
        let kindCode: Int64 = row[2]
        guard let sender, let kind = MessageKind(rawValue: UInt8(truncatingIfNeeded: kindCode)) else {
            throw StoreError.unavailable("message row \(rowID) is malformed")
        }
        let blob: String? = row[5]
        let content = blob != nil ? nil : try row.withUnsafeData(atIndex: 4) { $0.map { [UInt8]($0) } }
        let envelope = Envelope(
            id: MessageID(UInt64(bitPattern: rowID)), sender: sender, kind: kind,
            contentSize: contentSize, inlineContent: content)
        return (envelope, SQLiteClaimBook.Held(rowID: rowID, blobName: blob))
    }
}
