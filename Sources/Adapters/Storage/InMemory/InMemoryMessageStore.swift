import Application
import Domain
import Foundation
import Synchronization

/// Messages held in process memory: for tests and for throwaway servers.
///
/// Nothing survives a restart. Small contents live in memory; contents that stream in
/// through `beginUpload` are spilled to files in a private temporary directory, so a
/// 1 GiB file does not make a 1 GiB process. `shutdown()` removes that directory.
public final class InMemoryMessageStore: MessageStore {
    enum Content {
        case bytes([UInt8])
        case file(path: String)
    }

    struct Stored {
        let header: MessageHeader
        let id: MessageID
        let content: Content
        var claimedBy: UInt64?
    }

    /// Everything mutable, behind one lock: each operation is a few in-memory steps, so
    /// callers never suspend for it (an actor would make them hop threads under load).
    private struct State {
        var nextID: UInt64 = 1
        var nextToken: UInt64 = 1
        var nextUpload: UInt64 = 1
        /// Waiting messages by recipient, oldest first.
        var inboxes: [ClientID: [Stored]] = [:]
        /// Uploads in progress.
        var uploads: Set<UInt64> = []
        var spillCreated = false
    }

    private let state = Mutex(State())
    /// Where streamed contents are written.
    let spill: BlobDirectory
    /// Contents larger than this are handed out through `openContent`.
    private let inlineLimit: UInt32

    public init(inlineLimit: UInt32 = 64 * 1024) {
        self.inlineLimit = inlineLimit
        self.spill = BlobDirectory(path: FileManager.default.temporaryDirectory
            .appendingPathComponent("sealpost-memory-\(UUID().uuidString)").path)
    }

    public func enqueue(_ header: MessageHeader, content: [UInt8]) throws -> MessageID {
        guard content.count == Int(header.contentSize) else {
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: UInt64(content.count))
        }
        return state.withLock { Self.store(header, content: .bytes(content), in: &$0) }
    }

    public func beginUpload(_ header: MessageHeader) async throws -> any MessageUpload {
        if !state.withLock({ $0.spillCreated }) {
            // Creating an existing directory is not an error: two first uploads may race here.
            try await spill.create()
            state.withLock { $0.spillCreated = true }
        }
        let number = state.withLock { state in
            defer { state.nextUpload += 1 }
            return state.nextUpload
        }
        let name = "upload-\(number)"
        let fd = try await spill.createPart(name)
        state.withLock { _ = $0.uploads.insert(number) }
        return InMemoryUpload(store: self, number: number, header: header, path: spill.partPath(name), fd: fd)
    }

    public func claim(for recipient: ClientID, budget: ClaimBudget) -> MessageClaim {
        let inlineLimit = self.inlineLimit
        var budget = budget
        return state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            var taken: [Envelope] = []
            guard var inbox = state.inboxes[recipient] else {
                return MessageClaim(token: token, recipient: recipient, messages: [])
            }
            state.inboxes[recipient] = nil  // edited in place below, not copied
            for index in inbox.indices where inbox[index].claimedBy == nil {
                let message = inbox[index]
                guard !budget.isExhausted, budget.admit(contentSize: message.header.contentSize) else { break }
                inbox[index].claimedBy = token
                var inline: [UInt8]? = nil
                if case .bytes(let bytes) = message.content, message.header.contentSize <= inlineLimit { inline = bytes }
                taken.append(Envelope(
                    id: message.id, sender: message.header.sender, kind: message.header.kind,
                    contentSize: message.header.contentSize, inlineContent: inline))
            }
            state.inboxes[recipient] = inbox
            return MessageClaim(token: token, recipient: recipient, messages: taken)
        }
    }

    public func openContent(of message: Envelope, in claim: MessageClaim) async throws -> any MessageContentReader {
        let stored = state.withLock { state in
            state.inboxes[claim.recipient]?.first(where: { $0.id == message.id && $0.claimedBy == claim.token })
        }
        guard let stored else {
            throw StoreError.notFound("message \(message.id) in claim \(claim.token)")
        }
        switch stored.content {
        case .bytes(let bytes):
            return PieceReader(pieces: [bytes])
        case .file(let path):
            let fd = try await spill.openPath(path)
            return BlobContentReader(blobs: spill, fd: fd, chunk: 512 * 1024)
        }
    }

    public func acknowledge(_ claim: MessageClaim) async {
        let files = state.withLock { state -> [String] in
            var files: [String] = []
            state.inboxes[claim.recipient]?.removeAll { message in
                guard message.claimedBy == claim.token else { return false }
                if case .file(let path) = message.content { files.append(path) }
                return true
            }
            if state.inboxes[claim.recipient]?.isEmpty == true { state.inboxes[claim.recipient] = nil }
            return files
        }
        if !files.isEmpty { await spill.remove(files) }
    }

    public func release(_ claim: MessageClaim) {
        state.withLock { state in
            guard var inbox = state.inboxes[claim.recipient] else { return }
            state.inboxes[claim.recipient] = nil
            for index in inbox.indices where inbox[index].claimedBy == claim.token {
                inbox[index].claimedBy = nil
            }
            state.inboxes[claim.recipient] = inbox
        }
    }

    /// Claims here last until acknowledged or released: renewing only checks that `claim`
    /// still holds its messages.
    ///
    /// - Throws: `StoreError.notFound` when it was released or acknowledged.
    public func renew(_ claim: MessageClaim) throws {
        guard let first = claim.messages.first else { return }
        let held = state.withLock { state in
            state.inboxes[claim.recipient]?.contains { $0.id == first.id && $0.claimedBy == claim.token } ?? false
        }
        guard held else { throw StoreError.notFound("claim \(claim.token) (released or acknowledged)") }
    }

    public func recover() {
        // Nothing outlives the process, so there is nothing to recover.
    }

    /// Removes every spilled file and the directory: call when the server stops.
    public func shutdown() async {
        let created = state.withLock { state in
            state.inboxes = [:]
            return state.spillCreated
        }
        if created { await spill.removeAll() }
    }

    /// How many uploads are in progress, for tests of cleanup.
    public var pendingUploads: Int { state.withLock { $0.uploads.count } }

    /// How many messages are stored, claimed or not, for tests.
    public var storedMessages: Int { state.withLock { $0.inboxes.values.reduce(0) { $0 + $1.count } } }

    /// How many files the spill directory holds, for tests of cleanup.
    public func spillFileCount() async throws -> Int {
        guard state.withLock({ $0.spillCreated }) else { return 0 }
        return try await spill.list().count
    }

    private static func store(_ header: MessageHeader, content: Content, in state: inout State) -> MessageID {
        let id = MessageID(state.nextID)
        state.nextID += 1
        state.inboxes[header.recipient, default: []].append(Stored(header: header, id: id, content: content, claimedBy: nil))
        return id
    }

    fileprivate func finishUpload(_ number: UInt64, header: MessageHeader, path: String?) -> MessageID? {
        state.withLock { state in
            state.uploads.remove(number)
            guard let path else { return nil }
            return Self.store(header, content: .file(path: path), in: &state)
        }
    }
}

/// A content streaming into a spill file of an in-memory store.
final class InMemoryUpload: MessageUpload {
    private struct State {
        var fd: Int32?
        var written: UInt64 = 0
    }

    private let store: InMemoryMessageStore
    private let number: UInt64
    private let header: MessageHeader
    private let path: String
    private let state: Mutex<State>

    init(store: InMemoryMessageStore, number: UInt64, header: MessageHeader, path: String, fd: Int32) {
        self.store = store
        self.number = number
        self.header = header
        self.path = path
        self.state = Mutex(State(fd: fd))
    }

    func write(_ chunk: [UInt8]) async throws {
        let (fd, offset) = try state.withLock { state -> (Int32, UInt64) in
            guard let fd = state.fd else { throw StoreError.notFound("upload \(number) is finished") }
            let offset = state.written
            state.written += UInt64(chunk.count)
            guard state.written <= UInt64(header.contentSize) else {
                throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: state.written)
            }
            return (fd, offset)
        }
        try await store.spill.write(chunk, to: fd, at: offset)
    }

    func commit() async throws -> MessageID {
        let (fd, written) = state.withLock { state in
            defer { state.fd = nil }
            return (state.fd, state.written)
        }
        guard let fd else { throw StoreError.notFound("upload \(number) is finished") }
        await store.spill.closeWithoutSync(fd)
        guard written == UInt64(header.contentSize) else {
            await store.spill.remove([path])
            _ = store.finishUpload(number, header: header, path: nil)
            throw StoreError.sizeMismatch(declared: UInt64(header.contentSize), written: written)
        }
        guard let id = store.finishUpload(number, header: header, path: path) else {
            throw StoreError.notFound("upload \(number)")
        }
        return id
    }

    func abort() async {
        let fd = state.withLock { state in
            defer { state.fd = nil }
            return state.fd
        }
        guard let fd else { return }
        await store.spill.closeWithoutSync(fd)
        await store.spill.remove([path])
        _ = store.finishUpload(number, header: header, path: nil)
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
