#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Application
import NIOPosix

/// A directory that holds large message contents, one file each (beside a SQLite
/// database, or private to an in-memory store).
///
/// A content being uploaded lives in `<name>.part`; once complete and fsynced it is renamed
/// to `<name>.blob`, and only then does a database row point at it. Every call does its
/// blocking system calls on `NIOThreadPool.singleton`, never on an event loop or for long on
/// the cooperative pool.
struct BlobDirectory: Sendable {
    /// Suffix of a content still being written.
    static let partSuffix = ".part"
    /// Suffix of a complete content.
    static let blobSuffix = ".blob"

    /// The directory's path, without a trailing slash.
    let path: String

    /// The path of the part file of upload `name`.
    func partPath(_ name: String) -> String { "\(path)/\(name)\(Self.partSuffix)" }

    /// The path of the complete content `name`.
    func blobPath(_ name: String) -> String { "\(path)/\(name)\(Self.blobSuffix)" }

    /// Creates the directory when it is missing.
    func create() async throws {
        let path = self.path
        try await Self.blocking {
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw Self.failure("mkdir", path)
            }
        }
    }

    /// Creates a fresh, empty part file and returns its descriptor.
    func createPart(_ name: String) async throws -> Int32 {
        let file = partPath(name)
        return try await Self.blocking {
            let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.failure("open", file) }
            return fd
        }
    }

    /// Writes `bytes` at `offset` of `fd`, retrying short writes.
    func write(_ bytes: [UInt8], to fd: Int32, at offset: UInt64) async throws {
        try await Self.blocking {
            try bytes.withUnsafeBytes { buffer in
                var done = 0
                while done < buffer.count {
                    let count = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                    if count < 0 {
                        if errno == EINTR { continue }
                        throw Self.failure("write", "descriptor \(fd)")
                    }
                    done += count
                }
            }
        }
    }

    /// Makes the part file durable, closes it and renames it to its blob name, then makes
    /// the rename durable. The descriptor is closed whatever happens.
    func seal(_ name: String, fd: Int32) async throws {
        let (part, blob, directory) = (partPath(name), blobPath(name), path)
        try await Self.blocking {
            let synced = fsync(fd) == 0
            let syncError = errno
            close(fd)
            guard synced else { errno = syncError; throw Self.failure("fsync", part) }
            guard rename(part, blob) == 0 else { throw Self.failure("rename", part) }
            try Self.syncDirectory(directory)
        }
    }

    /// Writes a whole content to `<name>.blob` durably (through a part file).
    func store(_ bytes: [UInt8], as name: String) async throws {
        let fd = try await createPart(name)
        do {
            try await write(bytes, to: fd, at: 0)
        } catch {
            close(fd)
            await remove([partPath(name)])
            throw error
        }
        try await seal(name, fd: fd)
    }

    /// Opens the file at `file` for reading.
    func openPath(_ file: String) async throws -> Int32 {
        try await Self.blocking {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.failure("open", file) }
            return fd
        }
    }

    /// Opens the blob `name` for reading.
    func openBlob(_ name: String) async throws -> Int32 {
        let file = blobPath(name)
        return try await Self.blocking {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.failure("open", file) }
            return fd
        }
    }

    /// Reads up to `count` bytes of `fd` from `offset`; fewer only at the end of the file.
    func read(from fd: Int32, at offset: UInt64, count: Int) async throws -> [UInt8] {
        try await Self.blocking {
            var bytes = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                let got = bytes.withUnsafeMutableBytes { buffer in
                    pread(fd, buffer.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
                }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw Self.failure("read", "descriptor \(fd)")
                }
                if got == 0 { break }
                filled += got
            }
            bytes.removeSubrange(filled...)
            return bytes
        }
    }

    /// Closes a descriptor without syncing it: for contents that need not survive a crash.
    func closeWithoutSync(_ fd: Int32) async {
        _ = try? await Self.blocking { _ = close(fd) }
    }

    /// Removes the directory and every file in it.
    func removeAll() async {
        let names = (try? await list()) ?? []
        await remove(names.map { "\(path)/\($0)" })
        let directory = path
        _ = try? await Self.blocking { _ = rmdir(directory) }
    }

    /// Unlinks `paths`, ignoring files that are already gone. Never throws: a file left
    /// behind is an orphan that `recover()` removes later.
    func remove(_ paths: [String]) async {
        guard !paths.isEmpty else { return }
        _ = try? await Self.blocking {
            for path in paths { unlink(path) }
        }
    }

    /// The names of the files in the directory.
    func list() async throws -> [String] {
        let directory = path
        return try await Self.blocking {
            guard let stream = opendir(directory) else { throw Self.failure("opendir", directory) }
            defer { closedir(stream) }
            var names: [String] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names
        }
    }

    private static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", directory) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync", directory) }
    }

    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    private static func failure(_ call: String, _ subject: String) -> StoreError {
        let code = errno
        return StoreError.unavailable("\(call) \(subject): \(String(cString: strerror(code))) (errno \(code))")
    }
}
