#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Application
import Domain
import NIOPosix
import Synchronization

/// A directory of v3 attachment bytes, one file per attachment named `<id>.att` (beside a
/// SQLite database, or private to an in-memory store).
///
/// The file's length is the attachment's stored offset: an append checks it and writes at
/// it, so an upload cut anywhere, even by kill -9, resumes exactly where the bytes end. The
/// last append (the one that completes the attachment) is fsynced before it returns. Every
/// call does its system calls on `NIOThreadPool.singleton`, never on an event loop, and holds
/// no more than the bytes it is given or asked for.
final class AttachmentFiles: Sendable {
    static let suffix = ".att"

    /// The directory's path, without a trailing slash.
    let path: String
    /// Attachments with an append under way: a second concurrent append is told the offset
    /// it should have used, never interleaved.
    private let appending = Mutex<Set<AttachmentID>>([])
    private let created = Mutex(false)
    /// Lengths of the files this process has written or measured, so that a look-up (every
    /// ATTACH_WRITE and ATTACH_READ asks) needs no system call: only `append` changes a
    /// length, one at a time per attachment, and `remove` ends it. `epoch` moves on every
    /// removal, so a measurement that raced one is not kept. Cleared past `maxKnown`.
    private let known = Mutex(Known())
    private struct Known {
        var lengths: [AttachmentID: UInt64] = [:]
        var epoch: UInt64 = 0
    }
    private static let maxKnown = 4096

    init(path: String) {
        self.path = path
    }

    func filePath(_ id: AttachmentID) -> String { "\(path)/\(id)\(Self.suffix)" }

    /// Creates the directory when it is missing.
    func create() async throws {
        if created.withLock({ $0 }) { return }
        let path = self.path
        try await Self.blocking {
            if mkdir(path, 0o700) != 0 && errno != EEXIST { throw Self.failure("mkdir", path) }
        }
        created.withLock { $0 = true }
    }

    /// Bytes stored for `id`: its file's length, 0 when there is no file yet.
    func length(_ id: AttachmentID) async throws -> UInt64 {
        if let length = known.withLock({ $0.lengths[id] }) { return length }
        return try await Self.blocking { [self] in try lengthNow(id) }
    }

    /// `length(_:)` on the calling thread, for callers already on a thread that may block
    /// (a database's queue); never on an event loop.
    func lengthNow(_ id: AttachmentID) throws -> UInt64 {
        let (cached, epoch) = known.withLock { ($0.lengths[id], $0.epoch) }
        if let cached { return cached }
        let file = filePath(id)
        var info = stat()
        if stat(file, &info) != 0 {
            if errno == ENOENT { return 0 }
            throw Self.failure("stat", file)
        }
        let length = UInt64(info.st_size)
        known.withLock { known in
            // An append since then has put the newer length; a removal moved the epoch.
            if known.epoch == epoch, known.lengths[id] == nil { remember(id, length, in: &known) }
        }
        return length
    }

    private func remember(_ id: AttachmentID, _ length: UInt64, in known: inout Known) {
        if known.lengths.count >= Self.maxKnown { known.lengths.removeAll() }
        known.lengths[id] = length
    }

    /// Appends `bytes` at `offset`, which must be the file's length; a write that would pass
    /// `size` is refused. Returns the new length; fsyncs when it reaches `size`. The bytes
    /// go from their own buffers, every region in one `pwritev`.
    func append(_ id: AttachmentID, at offset: UInt64, _ bytes: some AttachmentBytes, size: UInt64) async throws -> UInt64 {
        guard appending.withLock({ $0.insert(id).inserted }) else {
            throw AttachmentStoreError.wrongOffset(stored: try await length(id))
        }
        defer { _ = appending.withLock { $0.remove(id) } }
        try await create()
        let file = filePath(id)
        return try await Self.blocking { [self] in
            // Unknown while the write is under way: a failed one truncates back.
            known.withLock { _ = $0.lengths.removeValue(forKey: id) }
            let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.failure("open", file) }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw Self.failure("fstat", file) }
            let stored = UInt64(info.st_size)
            guard offset == stored else { throw AttachmentStoreError.wrongOffset(stored: stored) }
            guard offset + UInt64(bytes.count) <= size else { throw AttachmentStoreError.pastEnd(size: size) }
            do {
                try bytes.withUnsafeRegions { regions in try Self.writeAll(regions, to: fd, at: offset, file: file) }
            } catch {
                // All or nothing: a failed write leaves the offset where it was.
                _ = ftruncate(fd, off_t(offset))
                known.withLock { _ = $0.lengths.removeValue(forKey: id) }
                throw error
            }
            let end = offset + UInt64(bytes.count)
            if end == size, fsync(fd) != 0 { throw Self.failure("fsync", file) }
            known.withLock { remember(id, end, in: &$0) }
            return end
        }
    }

    /// Writes `regions` at `offset` with `pwritev`, again from where a short write stopped.
    private static func writeAll(_ regions: [UnsafeRawBufferPointer], to fd: Int32, at offset: UInt64, file: String) throws {
        var vectors = regions.filter { $0.count > 0 }.map {
            iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count)
        }
        var first = 0
        var position = off_t(offset)
        while first < vectors.count {
            let batch = min(vectors.count - first, 1024)  // IOV_MAX
            let written = vectors.withUnsafeBufferPointer { pwritev(fd, $0.baseAddress! + first, Int32(batch), position) }
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("write", file)
            }
            if written == 0 { throw StoreError.unavailable("write \(file): no progress") }
            position += off_t(written)
            var left = written
            while first < vectors.count, left >= vectors[first].iov_len {
                left -= vectors[first].iov_len
                first += 1
            }
            if left > 0 {
                vectors[first].iov_base = vectors[first].iov_base.map { $0 + left }
                vectors[first].iov_len -= left
            }
        }
    }

    /// Up to `count` bytes of `id` from `offset`; fewer only at the end of the file.
    func read(_ id: AttachmentID, at offset: UInt64, count: Int) async throws -> [UInt8] {
        let file = filePath(id)
        return try await Self.blocking {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { throw AttachmentStoreError.notFound }
                throw Self.failure("open", file)
            }
            defer { close(fd) }
            var failure: StoreError?
            // Not zero-filled first: only the bytes read are kept.
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                var filled = 0
                while filled < count {
                    let got = pread(fd, buffer.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
                    if got < 0 {
                        if errno == EINTR { continue }
                        failure = Self.failure("read", file)
                        break
                    }
                    if got == 0 { break }
                    filled += got
                }
                initialized = filled
            }
            if let failure { throw failure }
            return bytes
        }
    }

    /// Removes the files of `ids`, ignoring those already gone.
    func remove(_ ids: [AttachmentID]) async {
        guard !ids.isEmpty else { return }
        known.withLock { known in
            known.epoch += 1
            for id in ids { known.lengths[id] = nil }
        }
        let files = ids.map(filePath)
        _ = try? await Self.blocking {
            for file in files { unlink(file) }
        }
    }

    /// The attachments that have a file, with the files' lengths.
    func list() async throws -> [(id: AttachmentID, length: UInt64)] {
        try await create()
        let directory = path
        return try await Self.blocking {
            guard let stream = opendir(directory) else { throw Self.failure("opendir", directory) }
            defer { closedir(stream) }
            var found: [(id: AttachmentID, length: UInt64)] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                guard name.hasSuffix(Self.suffix), let id = AttachmentID(hex: String(name.dropLast(Self.suffix.count))) else { continue }
                var info = stat()
                guard stat("\(directory)/\(name)", &info) == 0 else { continue }
                found.append((id, UInt64(info.st_size)))
            }
            return found
        }
    }

    /// Removes the directory and every file in it.
    func removeAll() async {
        guard let files = try? await list() else { return }
        await remove(files.map(\.id))
        let directory = path
        _ = try? await Self.blocking { _ = rmdir(directory) }
    }

    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    private static func failure(_ call: String, _ subject: String) -> StoreError {
        let code = errno
        return StoreError.unavailable("\(call) \(subject): \(String(cString: strerror(code))) (errno \(code))")
    }
}
