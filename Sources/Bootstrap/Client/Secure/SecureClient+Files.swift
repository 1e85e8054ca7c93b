import Adapters
import Application
import Domain
import Foundation

/// Files on a v3 home (docs/protocol-v3.md §9, §10.6): encrypted while they stream from disk,
/// uploaded as attachments, announced by a ratchet message carrying the pointer; received
/// into `<home>/downloads` only once the whole ciphertext checked out.
extension SecureClient {
    /// Reads of the file and ciphertext chunks on the wire.
    static let fileReadBytes = 1 << 20
    static let attachmentChunkBytes = 256 * 1024
    static let attachmentWindow = 8
    /// Ciphertext asked for and not yet taken, when downloading: ATTACH_READ answers come in
    /// chunks as large as the server's frames (1 MiB by default), so the window is this over
    /// the chunk size (at least 2), the same 2 MiB an upload keeps in flight.
    static let downloadBytesInFlight = 2 << 20
    /// Dropped connections survived by one transfer.
    static let transferAttempts = 8
    /// Downloads of one file that may fail its checks before it is given up.
    static let fileCheckAttempts: UInt64 = 3

    // MARK: Sending

    /// Encrypts the file at `path` under a fresh key, uploads it for `name` and sends its
    /// pointer as a ratchet message, naming the file `given` or, by default, its own name.
    ///
    /// The upload is kept in the store (attachment id, key, file size and mtime) before its
    /// first byte goes out: after a dropped connection it resumes from ATTACH_STATUS, and so
    /// does a `send-file` of the same file to the same contact run again after a crash (said
    /// on stderr), re-hashing the part already uploaded by sealing it again under the same
    /// key. A file changed since (size or mtime), or an attachment the server no longer has,
    /// starts over, said on stderr too. The record is deleted with the sent message's history
    /// entry, in one transaction.
    /// `$SEALPOST_TEST_WRONG_ATTACHMENT_SHA256` sends a wrong hash in the pointer, and
    /// `$SEALPOST_TEST_DIE_IN_UPLOAD_AT` kills the process once that many ciphertext bytes are
    /// made (tests only).
    ///
    /// - Returns: the message sent and the file's size.
    func sendFile(at path: String, to name: String, as given: String? = nil, progress: TerminalProgress?) async throws -> (SentEnvelope, UInt64) {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var info = stat()
        guard stat(absolute, &info) == 0 else { throw SecureClientFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SecureClientFailure("\(path) is not a regular file") }
        let plainSize = UInt64(max(0, info.st_size))
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        let fileName = Self.truncatedName(given ?? (path as NSString).lastPathComponent)
        let contact = try await contact(named: name)
        if contact.changedIdentity != nil { throw keyChangedFailure(contact) }
        let size = AttachmentStream.sealedSize(ofPlaintext: plainSize)
        let (upload, resumeAt) = try await beginUpload(
            SecurePendingUpload(recipient: contact.account, path: absolute, attachment: [], key: [], plainSize: plainSize,
                                modified: modified, fileName: fileName),
            shownAs: path, sealedSize: size)
        guard let id = AttachmentID(bytes: upload.attachment) else { throw SecureClientFailure("the stored attachment id is not 16 bytes") }
        let dieAt = ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_IN_UPLOAD_AT"].flatMap(UInt64.init)
        progress?.start(label: "sending \(fileName)", total: size)
        var digest: [UInt8] = []
        var attempt = 0
        while true {
            do {
                let connection = try await connected()
                let from = attempt == 0 ? resumeAt : try await connection.attachmentStatus(id).stored
                let source = try EncryptedFileSource(path: absolute, key: upload.key, crypto: crypto, skip: from)
                let chunk = min(Self.attachmentChunkBytes, try await connection.maxAttachmentChunk)
                let stored = try await connection.writeAttachment(id, from: from, window: Self.attachmentWindow) {
                    let next = try source.next(upTo: chunk)
                    progress?.advance(to: source.produced)
                    if let dieAt, source.produced >= dieAt { kill(getpid(), SIGKILL) }
                    return next
                }
                // The writes ended because the source did: the hash covers every byte.
                while try source.next(upTo: chunk) != nil {}
                guard stored == size else { throw SecureClientFailure("the server stored \(stored) of \(size) bytes") }
                digest = source.digest()
                break
            } catch let error as AccountServerError where (Self.isDrop(error) || error.code == Self.wrongOffset) && attempt + 1 < Self.transferAttempts {
                // The server may be restarting, or still taking a dead process's last writes:
                // wait a little longer each time, then resume from where it stands.
                attempt += 1
                if Self.isDrop(error) { await close() }
                try await Task.sleep(for: .milliseconds(250 * attempt))
            }
        }
        progress?.finish()
        if ProcessInfo.processInfo.environment["SEALPOST_TEST_WRONG_ATTACHMENT_SHA256"] != nil { digest[0] ^= 1 }
        let pointer = try AttachmentPointer(id: id.bytes, key: upload.key, size: size, sha256: digest, fileName: fileName)
        let recipient = contact.account
        let sent = try await send(.attachment(pointer), to: name, kind: "file", body: fileName) { records in
            try records.deletePendingUpload(to: recipient, path: absolute)
        }
        return (sent, plainSize)
    }

    /// The upload kept for `wanted`'s file and recipient with where the server's bytes end,
    /// when it is still good: the same size and mtime, and the attachment still on the server.
    /// Otherwise a new attachment under a fresh key, kept before anything is uploaded.
    private func beginUpload(_ wanted: SecurePendingUpload, shownAs path: String,
                             sealedSize size: UInt64) async throws -> (SecurePendingUpload, UInt64) {
        if let kept = try await store.read({ try $0.pendingUpload(to: wanted.recipient, path: wanted.path) }) {
            if kept.plainSize != wanted.plainSize || kept.modified != wanted.modified {
                StandardStreams.error("sealpost: \(path) changed since its upload began: starting over\n")
            } else if let id = AttachmentID(bytes: kept.attachment) {
                do {
                    let status = try await connected().attachmentStatus(id)
                    if status.size == size {
                        StandardStreams.error("sealpost: resuming \(path) at \(status.stored) of \(size) bytes\n")
                        return (kept, status.stored)
                    }
                    StandardStreams.error("sealpost: the upload of \(path) on the server is not this file's: starting over\n")
                } catch let error as AccountServerError where error.code == Self.noSuchAttachment {
                    StandardStreams.error("sealpost: the upload of \(path) expired on the server: starting over\n")
                }
            }
        }
        let key = try crypto.randomBytes(32)
        let id = try await connected().createAttachment(size: size, recipients: [wanted.recipient])
        let upload = SecurePendingUpload(recipient: wanted.recipient, path: wanted.path, attachment: id.bytes, key: key,
                                         plainSize: wanted.plainSize, modified: wanted.modified, fileName: wanted.fileName)
        try await store.write { try $0.savePendingUpload(upload) }
        return (upload, 0)
    }

    /// ERROR `noSuchAttachment` (§9): expired, deleted, or never this account's.
    static let noSuchAttachment = AccountServerErrorCode(rawValue: 17)
    /// ERROR `wrongOffset` (§9.2): a write not where the attachment stands.
    static let wrongOffset = AccountServerErrorCode(rawValue: 18)

    static func isDrop(_ error: AccountServerError) -> Bool {
        switch error {
        case .connectionLost, .closed, .cannotConnect: true
        default: false
        }
    }

    /// At most 255 bytes of UTF-8, cut on a character.
    static func truncatedName(_ name: String) -> String {
        var result = ""
        for character in name {
            if result.utf8.count + String(character).utf8.count > AttachmentPointer.maximumNameBytes { break }
            result.append(character)
        }
        return result
    }

    // MARK: Receiving

    /// The downloads folder, made on first need.
    var downloads: String { (home as NSString).appendingPathComponent("downloads") }

    /// Downloads the attachment `pointer` names, checks its size and SHA-256, decrypts it into
    /// `<home>/downloads/.partial-<id>` and, only once the whole stream verified, links it under
    /// its sanitized name. The partial file outlives a dropped connection and the process: a
    /// download that starts again resumes where it stopped.
    ///
    /// The partial file is left for the caller to delete once the message is kept: a crash in
    /// between leaves it linked under the saved name, and the next download, finding it so,
    /// gives that name again instead of saving the file twice.
    ///
    /// - Returns: the path it was saved under, and the partial file's.
    /// - Throws: `AttachmentRejection` when the attachment fails its checks or the server no
    ///   longer has it (the partial file is deleted); other errors leave it to resume from.
    func download(_ pointer: AttachmentPointer, on connection: any AccountServerConnection,
                  progress: TerminalProgress?) async throws -> (saved: String, partial: String) {
        guard let id = AttachmentID(bytes: pointer.id) else { throw AttachmentRejection("the attachment id is not 16 bytes") }
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        let partial = (downloads as NSString).appendingPathComponent(".partial-\(id)")
        let sink = try DecryptedFileSink(path: partial, key: pointer.key, crypto: crypto, size: pointer.size)
        if sink.resumedAt > 0 {
            StandardStreams.error("sealpost: resuming \(Self.sanitizedFileName(pointer.fileName)) at \(sink.resumedAt) of \(pointer.size) bytes\n")
        }
        do {
            try await receive(id, pointer: pointer, into: sink, on: connection, progress: progress)
        } catch let error as AttachmentRejection {
            unlink(partial)
            throw error
        } catch let error as AccountServerError where error.code != nil && !error.isRetryable {
            unlink(partial)
            throw AttachmentRejection("the server refused the download: \(Self.words(error))")
        }
        if let earlier = Self.otherName(of: partial, in: downloads) { return (earlier, partial) }
        return (try Self.link(partial, into: downloads, as: pointer.fileName), partial)
    }

    /// Another name of the file at `path` in `folder` (a link made before a crash), if any.
    static func otherName(of path: String, in folder: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_nlink > 1 else { return nil }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where !name.hasPrefix(".partial-") {
            let candidate = (folder as NSString).appendingPathComponent(name)
            var other = stat()
            if lstat(candidate, &other) == 0, other.st_ino == info.st_ino, other.st_dev == info.st_dev { return candidate }
        }
        return nil
    }

    /// Reads the ciphertext past what `sink` has (resuming after a dropped connection) and
    /// checks it whole. `$SEALPOST_TEST_DIE_IN_DOWNLOAD_AT` kills the process once that many
    /// bytes are in (tests only).
    private func receive(_ id: AttachmentID, pointer: AttachmentPointer, into sink: DecryptedFileSink,
                         on connection: any AccountServerConnection, progress: TerminalProgress?) async throws {
        progress?.start(label: "receiving \(Self.sanitizedFileName(pointer.fileName))", total: pointer.size)
        progress?.advance(to: sink.received)
        let dieAt = ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_IN_DOWNLOAD_AT"].flatMap(UInt64.init)
        var attempt = 0
        while true {
            do {
                let status = try await connection.attachmentStatus(id)
                guard status.size == pointer.size else {
                    throw AttachmentRejection("the attachment on the server is \(status.size) bytes, not the \(pointer.size) its message says")
                }
                guard status.stored == status.size else { throw AttachmentRejection("the attachment was not fully uploaded") }
                let have = sink.received
                if have < pointer.size {
                    let window = max(2, Self.downloadBytesInFlight / max(1, try await connection.maxAttachmentChunk))
                    try await connection.readAttachment(id, from: have, to: pointer.size, window: window) { bytes in
                        try sink.take(bytes)
                        progress?.advance(to: sink.received)
                        if let dieAt, sink.received >= dieAt { kill(getpid(), SIGKILL) }
                    }
                }
                break
            } catch let error as AccountServerError where Self.isDrop(error) && attempt + 1 < Self.transferAttempts {
                attempt += 1
            }
        }
        progress?.finish()
        guard sink.received == pointer.size else { throw AttachmentRejection("received \(sink.received) of \(pointer.size) bytes") }
        guard sink.digest() == pointer.sha256 else {
            throw AttachmentRejection("the attachment's SHA-256 does not match its message: damaged or replaced; nothing was saved")
        }
        try sink.finish()
    }

    /// Links `temporary` into `folder` under `name` sanitized, never over an existing file:
    /// ` (1)`, ` (2)`… are added before the extension.
    static func link(_ temporary: String, into folder: String, as name: String) throws -> String {
        let safe = sanitizedFileName(name)
        let base = (safe as NSString).deletingPathExtension
        let ext = (safe as NSString).pathExtension
        for number in 0..<10_000 {
            let candidate = number == 0 ? safe : "\(base) (\(number))" + (ext.isEmpty ? "" : ".\(ext)")
            let path = (folder as NSString).appendingPathComponent(candidate)
            if Foundation.link(temporary, path) == 0 { return path }
            guard errno == EEXIST else { throw SecureClientFailure("cannot save \(path): \(String(cString: strerror(errno)))") }
        }
        throw SecureClientFailure("too many files named \(safe) in \(folder)")
    }

    /// A file name that stays inside the folder: no path separators, no control characters,
    /// no `..`, no leading dot; "file" when nothing is left.
    static func sanitizedFileName(_ name: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            if scalar == "/" || scalar == "\\" {
                scalars.append("_")
            } else if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.properties.generalCategory == .format {
                continue
            } else {
                scalars.append(scalar)
            }
        }
        var safe = String(scalars).trimmingCharacters(in: .whitespaces)
        while safe.contains("..") { safe = safe.replacingOccurrences(of: "..", with: "_") }
        if safe.hasPrefix(".") { safe = "_" + safe.dropFirst() }
        if safe.isEmpty { safe = "file" }
        return truncatedName(safe)
    }
}

/// A file read in pieces and encrypted as a STREAM, its ciphertext handed out in chunks and
/// hashed; the first `skip` bytes are hashed but not handed out (an upload that resumes). The
/// plaintext and ciphertext buffers are allocated once and reused for every piece.
final class EncryptedFileSource {
    private let descriptor: Int32
    private let encryptor: AttachmentEncryptor
    private let hash = OpenSSLSHA256()
    private let plain: UnsafeMutableRawBufferPointer
    private let sealed: UnsafeMutableRawBufferPointer
    private var count = 0
    private var position = 0
    private var ended = false
    private let skip: UInt64
    /// Ciphertext bytes made so far.
    private(set) var produced: UInt64 = 0

    init(path: String, key: [UInt8], crypto: any EndToEndCrypto, skip: UInt64) throws {
        descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SecureClientFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
        encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        self.skip = skip
        let pieces = SecureClient.fileReadBytes / AttachmentStream.chunkSize + 2
        plain = .allocate(byteCount: SecureClient.fileReadBytes, alignment: 16)
        sealed = .allocate(byteCount: pieces * AttachmentStream.sealedChunkSize, alignment: 16)
    }

    deinit {
        Foundation.close(descriptor)
        plain.deallocate()
        sealed.deallocate()
    }

    /// The next at most `limit` ciphertext bytes past `skip`; nil at the end.
    func next(upTo limit: Int) throws -> [UInt8]? {
        while true {
            if position == count {
                guard !ended else { return nil }
                try refill()
                continue
            }
            let start = produced - UInt64(count - position)
            if start < skip {
                // Bytes the server has already: skip up to `skip` within this buffer.
                position += Int(min(UInt64(count - position), skip - start))
                continue
            }
            let take = min(limit, count - position)
            defer { position += take }
            return Array(UnsafeRawBufferPointer(rebasing: sealed[position..<position + take]))
        }
    }

    private func refill() throws {
        var read = 0
        repeat {
            read = Foundation.read(descriptor, plain.baseAddress, plain.count)
        } while read < 0 && errno == EINTR
        guard read >= 0 else { throw SecureClientFailure("reading the file failed: \(String(cString: strerror(errno)))") }
        if read == 0 {
            let last = try encryptor.finish()
            last.withUnsafeBytes { sealed.copyMemory(from: $0) }
            count = last.count
            ended = true
        } else {
            count = try encryptor.update(UnsafeRawBufferPointer(rebasing: plain[0..<read]), into: sealed)
        }
        position = 0
        hash.update(UnsafeRawBufferPointer(rebasing: sealed[0..<count]))
        produced += UInt64(count)
    }

    /// The SHA-256 of the whole ciphertext, once `next` returned nil.
    func digest() -> [UInt8] { hash.finish() }
}
