#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Application
import Domain
import Synchronization

/// A message of `SQLiteMessageStore` whose content arrives in pieces.
///
/// A content up to the inline limit is gathered in memory and stored in the row. A larger
/// one is appended to `<name>.part` as it arrives; `commit()` fsyncs it, renames it to
/// `<name>.blob` and inserts the row, and only then is the message visible.
final class SQLiteMessageUpload: MessageUpload {
    private enum Phase {
        case open
        case finished
    }

    private struct State {
        var phase = Phase.open
        var written: UInt64 = 0
        /// The content so far, for an inline upload.
        var buffer: [UInt8] = []
        /// The part file, for a streamed upload.
        var fd: Int32?
    }

    private let header: MessageHeader
    private let store: SQLiteMessageStore
    /// The blob name, for a streamed upload.
    private let name: String?
    private let state: Mutex<State>

    private init(header: MessageHeader, store: SQLiteMessageStore, name: String?, fd: Int32?) {
        self.header = header
        self.store = store
        self.name = name
        self.state = Mutex(State(fd: fd))
    }

    /// Starts an upload, creating its part file when the content is too large to inline.
    static func start(_ header: MessageHeader, in store: SQLiteMessageStore) async throws -> SQLiteMessageUpload {
        guard header.contentSize > store.inlineLimit else {
            return SQLiteMessageUpload(header: header, store: store, name: nil, fd: nil)
        }
        let name = store.live.start()
        do {
            let fd = try await SQLiteErrors.mapping { try await store.blobs.createPart(name) }
            return SQLiteMessageUpload(header: header, store: store, name: name, fd: fd)
        } catch {
            store.live.end(name)
            throw error
        }
    }

    private var declared: UInt64 { UInt64(header.contentSize) }

    /// Appends the next piece.
    ///
    /// - Throws: `StoreError.sizeMismatch` when the pieces exceed the declared size (the
    ///   upload is then abandoned); `StoreError.notFound` after `commit()` or `abort()`.
    func write(_ chunk: [UInt8]) async throws {
        let declared = self.declared
        let step: Result<(fd: Int32?, offset: UInt64), StoreError> = state.withLock { state in
            guard state.phase == .open else { return .failure(.notFound("upload already finished")) }
            let total = state.written + UInt64(chunk.count)
            guard total <= declared else {
                state.phase = .finished
                return .failure(.sizeMismatch(declared: declared, written: total))
            }
            let offset = state.written
            state.written = total
            if state.fd == nil { state.buffer.append(contentsOf: chunk) }
            return .success((state.fd, offset))
        }
        switch step {
        case .failure(let error):
            if case .sizeMismatch = error { await discard() }
            throw error
        case .success((let fd?, let offset)):
            try await SQLiteErrors.mapping { try await store.blobs.write(chunk, to: fd, at: offset) }
        case .success:
            break
        }
    }

    /// Makes the message visible, durably, and returns its id.
    ///
    /// - Throws: `StoreError.sizeMismatch` when fewer or more bytes were written than
    ///   declared (the upload is then abandoned).
    func commit() async throws -> MessageID {
        let declared = self.declared
        let taken: Result<(written: UInt64, buffer: [UInt8], fd: Int32?), StoreError> = state.withLock { state in
            guard state.phase == .open else { return .failure(.notFound("upload already finished")) }
            state.phase = .finished
            let fd = state.fd
            state.fd = nil
            defer { state.buffer = [] }
            return .success((state.written, state.buffer, fd))
        }
        let (written, buffer, fd) = try taken.get()
        guard written == declared else {
            if let fd { close(fd) }
            await cleanUp()
            throw StoreError.sizeMismatch(declared: declared, written: written)
        }
        guard let name, let fd else {
            return try await store.insert(SQLiteMessageStore.NewMessage(header: header, content: buffer, blob: nil))
        }
        defer { store.live.end(name) }
        do {
            try await SQLiteErrors.mapping { try await store.blobs.seal(name, fd: fd) }
        } catch {
            await store.blobs.remove([store.blobs.partPath(name), store.blobs.blobPath(name)])
            throw error
        }
        return try await store.insertSealed(header, blob: name)
    }

    /// Abandons the upload and deletes its part file. Never throws; a no-op once finished.
    func abort() async {
        let wasOpen = state.withLock { state in
            defer { state.phase = .finished }
            return state.phase == .open
        }
        if wasOpen { await discard() }
    }

    /// Closes and deletes the part file, if any, and frees the buffer.
    private func discard() async {
        let fd: Int32? = state.withLock { state in
            state.buffer = []
            defer { state.fd = nil }
            return state.fd
        }
        if let fd { close(fd) }
        await cleanUp()
    }

    private func cleanUp() async {
        guard let name else { return }
        await store.blobs.remove([store.blobs.partPath(name)])
        store.live.end(name)
    }
}
