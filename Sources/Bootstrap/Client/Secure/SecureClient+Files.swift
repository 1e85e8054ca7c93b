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
    /// Dropped connections survived by one transfer.
    static let transferAttempts = 8

    // MARK: Sending

    /// Encrypts the file at `path` under a fresh key, uploads it for `name` (resuming from
    /// ATTACH_STATUS after a dropped connection) and sends its pointer as a ratchet message,
    /// naming the file `given` or, by default, its own name.
    /// `$SEALPOST_TEST_WRONG_ATTACHMENT_SHA256` sends a wrong hash in the pointer (tests only).
    ///
    /// - Returns: the message sent and the file's size.
    func sendFile(at path: String, to name: String, as given: String? = nil, progress: TerminalProgress?) async throws -> (SentEnvelope, UInt64) {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw SecureClientFailure("cannot read \(path): \(error.localizedDescription)")
        }
        guard (attributes[.type] as? FileAttributeType) == .typeRegular else { throw SecureClientFailure("\(path) is not a regular file") }
        let plainSize = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        let fileName = Self.truncatedName(given ?? (path as NSString).lastPathComponent)
        let contact = try await contact(named: name)
        if contact.changedIdentity != nil { throw keyChangedFailure(contact) }
        let size = AttachmentStream.sealedSize(ofPlaintext: plainSize)
        let key = try crypto.randomBytes(32)
        let id = try await connected().createAttachment(size: size, recipients: [contact.account])
        progress?.start(label: "sending \(fileName)", total: size)
        var digest: [UInt8] = []
        var attempt = 0
        while true {
            do {
                let connection = try await connected()
                let from = attempt == 0 ? 0 : try await connection.attachmentStatus(id).stored
                let source = try EncryptedFileSource(path: path, key: key, crypto: crypto, skip: from)
                let chunk = min(Self.attachmentChunkBytes, try await connection.maxAttachmentChunk)
                let stored = try await connection.writeAttachment(id, from: from, window: Self.attachmentWindow) {
                    let next = try source.next(upTo: chunk)
                    progress?.advance(to: source.produced)
                    return next
                }
                // The writes ended because the source did: the hash covers every byte.
                while try source.next(upTo: chunk) != nil {}
                guard stored == size else { throw SecureClientFailure("the server stored \(stored) of \(size) bytes") }
                digest = source.digest()
                break
            } catch let error as AccountServerError where Self.isDrop(error) && attempt + 1 < Self.transferAttempts {
                // The server may be restarting: wait a little longer each time, then resume.
                attempt += 1
                await close()
                try await Task.sleep(for: .milliseconds(250 * attempt))
            }
        }
        progress?.finish()
        if ProcessInfo.processInfo.environment["SEALPOST_TEST_WRONG_ATTACHMENT_SHA256"] != nil { digest[0] ^= 1 }
        let pointer = try AttachmentPointer(id: id.bytes, key: key, size: size, sha256: digest, fileName: fileName)
        let sent = try await send(.attachment(pointer), to: name, kind: "file", body: fileName)
        return (sent, plainSize)
    }

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

    /// Downloads the attachment `pointer` names (resuming after a dropped connection), checks
    /// its size and SHA-256, decrypts it into a temporary file in `<home>/downloads` and,
    /// only once the whole stream verified, links it under its sanitized name.
    ///
    /// - Returns: the path it was saved under.
    func download(_ pointer: AttachmentPointer, on connection: any AccountServerConnection, progress: TerminalProgress?) async throws -> String {
        guard let id = AttachmentID(bytes: pointer.id) else { throw SecureClientFailure("the attachment id is not 16 bytes") }
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        let temporary = (downloads as NSString).appendingPathComponent(".partial-\(UUID().uuidString)")
        defer { unlink(temporary) }
        let sink = try DecryptedFileSink(path: temporary, key: pointer.key, crypto: crypto)
        progress?.start(label: "receiving \(Self.sanitizedFileName(pointer.fileName))", total: pointer.size)
        var attempt = 0
        while true {
            do {
                let status = try await connection.attachmentStatus(id)
                guard status.size == pointer.size else {
                    throw SecureClientFailure("the attachment on the server is \(status.size) bytes, not the \(pointer.size) its message says")
                }
                guard status.stored == status.size else { throw SecureClientFailure("the attachment was not fully uploaded") }
                let have = sink.received
                if have < pointer.size {
                    try await connection.readAttachment(id, from: have, to: pointer.size, window: Self.attachmentWindow) { bytes in
                        try sink.take(bytes)
                        progress?.advance(to: sink.received)
                    }
                }
                break
            } catch let error as AccountServerError where Self.isDrop(error) && attempt + 1 < Self.transferAttempts {
                attempt += 1
            }
        }
        progress?.finish()
        guard sink.received == pointer.size else { throw SecureClientFailure("received \(sink.received) of \(pointer.size) bytes") }
        guard sink.digest() == pointer.sha256 else {
            throw SecureClientFailure("the attachment's SHA-256 does not match its message: damaged or replaced; nothing was saved")
        }
        try sink.finish()
        return try Self.link(temporary, into: downloads, as: pointer.fileName)
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

/// Ciphertext taken in order, hashed, decrypted and written to a file. The plaintext buffer
/// is allocated once and reused for every piece.
final class DecryptedFileSink {
    private let file: FileHandle
    private let decryptor: AttachmentDecryptor
    private let hash = OpenSSLSHA256()
    private var plain: UnsafeMutableRawBufferPointer
    /// Ciphertext bytes taken so far.
    private(set) var received: UInt64 = 0

    init(path: String, key: [UInt8], crypto: any EndToEndCrypto) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let file = FileHandle(forWritingAtPath: path) else { throw SecureClientFailure("cannot write \(path)") }
        self.file = file
        decryptor = try AttachmentDecryptor(key: key, crypto: crypto)
        plain = .allocate(byteCount: SecureClient.fileReadBytes + AttachmentStream.chunkSize, alignment: 16)
    }

    deinit {
        try? file.close()
        plain.deallocate()
    }

    func take(_ bytes: [UInt8]) throws {
        let needed = decryptor.maximumOutput(forPiece: bytes.count)
        if needed > plain.count {
            plain.deallocate()
            plain = .allocate(byteCount: needed, alignment: 16)
        }
        let count = try bytes.withUnsafeBytes { input in
            hash.update(input)
            return try decryptor.update(input, into: plain)
        }
        received += UInt64(bytes.count)
        if count > 0 { try file.write(contentsOf: UnsafeRawBufferPointer(rebasing: plain[0..<count])) }
    }

    func digest() -> [UInt8] { hash.finish() }

    /// Opens the last chunk and flushes the file: it throws for a truncated stream.
    func finish() throws {
        let count = try decryptor.finish(into: plain)
        if count > 0 { try file.write(contentsOf: UnsafeRawBufferPointer(rebasing: plain[0..<count])) }
        try file.synchronize()
    }
}
