import Synchronization
import Application
import Domain

/// Messages held in process memory: for tests and for throwaway servers.
///
/// Nothing survives a restart. Contents are kept as the pieces they arrived in, so a
/// large file is not copied into one contiguous buffer.
public actor InMemoryMessageStore: MessageStore {
    struct Stored {
        let header: MessageHeader
        let id: MessageID
        var pieces: [[UInt8]]
        var claimedBy: UInt64?
    }

    private var nextID: UInt32 = 1
    private var nextToken: UInt64 = 1
    private var nextUpload: UInt64 = 1
    /// Waiting messages by recipient, oldest first.
    private var inboxes: [ClientID: [Stored]] = [:]
    /// Uploads in progress, by number.
    private var uploads: [UInt64: (header: MessageHeader, pieces: [[UInt8]], written: UInt64)] = [:]
    /// Contents larger than this are handed out through `openContent`.
    private let inlineLimit: UInt32

    public init(inlineLimit: UInt32 = 64 * 1024) {
        self.inlineLimit = inlineLimit
    }

    public func enqueue(_ header: MessageHeader, content: [UInt8]) -> MessageID {
        store(header, pieces: [content])
    }

    public func beginUpload(_ header: MessageHeader) -> any MessageUpload {
        let number = nextUpload
        nextUpload += 1
        uploads[number] = (header, [], 0)
        return Upload(store: self, number: number)
    }

    public func claim(for recipient: ClientID, maxBytes: UInt64) -> MessageClaim {
        let token = nextToken
        nextToken += 1
        var taken: [Envelope] = []
        var total: UInt64 = 0
        guard var inbox = inboxes[recipient] else {
            return MessageClaim(token: token, recipient: recipient, messages: [])
        }
        for index in inbox.indices where inbox[index].claimedBy == nil {
            let message = inbox[index]
            let size = 25 + UInt64(message.header.contentSize)
            if !taken.isEmpty && total + size > maxBytes { break }
            inbox[index].claimedBy = token
            total += size
            let inline: [UInt8]? = message.header.contentSize <= inlineLimit ? message.pieces.flatMap { $0 } : nil
            taken.append(Envelope(
                id: message.id, sender: message.header.sender, kind: message.header.kind,
                contentSize: message.header.contentSize, inlineContent: inline))
            if total >= maxBytes { break }
        }
        inboxes[recipient] = inbox
        return MessageClaim(token: token, recipient: recipient, messages: taken)
    }

    public func openContent(of message: Envelope, in claim: MessageClaim) throws -> any MessageContentReader {
        guard let stored = inboxes[claim.recipient]?.first(where: { $0.id == message.id && $0.claimedBy == claim.token }) else {
            throw StoreError.notFound("message \(message.id) in claim \(claim.token)")
        }
        return PieceReader(pieces: stored.pieces)
    }

    public func acknowledge(_ claim: MessageClaim) {
        inboxes[claim.recipient]?.removeAll { $0.claimedBy == claim.token }
        if inboxes[claim.recipient]?.isEmpty == true { inboxes[claim.recipient] = nil }
    }

    public func release(_ claim: MessageClaim) {
        guard var inbox = inboxes[claim.recipient] else { return }
        for index in inbox.indices where inbox[index].claimedBy == claim.token {
            inbox[index].claimedBy = nil
        }
        inboxes[claim.recipient] = inbox
    }

    public func recover() {
        // Nothing outlives the process, so there is nothing to recover.
    }

    /// How many uploads are in progress, for tests of cleanup.
    public var pendingUploads: Int { uploads.count }

    /// How many messages are stored, claimed or not, for tests.
    public var storedMessages: Int { inboxes.values.reduce(0) { $0 + $1.count } }

    private func store(_ header: MessageHeader, pieces: [[UInt8]]) -> MessageID {
        let id = MessageID(nextID)
        nextID &+= 1
        if nextID == 0 { nextID = 1 }
        inboxes[header.recipient, default: []].append(Stored(header: header, id: id, pieces: pieces, claimedBy: nil))
        return id
    }

    fileprivate func append(_ chunk: [UInt8], to number: UInt64) throws {
        guard var upload = uploads[number] else { throw StoreError.notFound("upload \(number)") }
        upload.written += UInt64(chunk.count)
        guard upload.written <= UInt64(upload.header.contentSize) else {
            uploads[number] = nil
            throw StoreError.sizeMismatch(declared: UInt64(upload.header.contentSize), written: upload.written)
        }
        upload.pieces.append(chunk)
        uploads[number] = upload
    }

    fileprivate func commit(_ number: UInt64) throws -> MessageID {
        guard let upload = uploads.removeValue(forKey: number) else { throw StoreError.notFound("upload \(number)") }
        guard upload.written == UInt64(upload.header.contentSize) else {
            throw StoreError.sizeMismatch(declared: UInt64(upload.header.contentSize), written: upload.written)
        }
        return store(upload.header, pieces: upload.pieces)
    }

    fileprivate func abort(_ number: UInt64) {
        uploads[number] = nil
    }

    private struct Upload: MessageUpload {
        let store: InMemoryMessageStore
        let number: UInt64

        func write(_ chunk: [UInt8]) async throws { try await store.append(chunk, to: number) }
        func commit() async throws -> MessageID { try await store.commit(number) }
        func abort() async { await store.abort(number) }
    }
}

/// Hands out a list of pieces in order.
final class PieceReader: MessageContentReader {
    private let pieces: [[UInt8]]
    private let position = Mutex<Int>(0)

    init(pieces: [[UInt8]]) {
        self.pieces = pieces
    }

    func next() -> [UInt8]? {
        position.withLock { index in
            while index < pieces.count {
                defer { index += 1 }
                if !pieces[index].isEmpty { return pieces[index] }
            }
            return nil
        }
    }

    func close() {}
}
