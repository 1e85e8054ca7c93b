import Adapters
import Application
import Foundation

/// Ciphertext taken in order, hashed, decrypted and written to a partial file that outlives
/// the process, so that a download cut by a crash or a lost connection resumes from it.
///
/// Opening a partial file again keeps all of its whole chunks but the last, and hashes their
/// ciphertext again by sealing that plaintext again under the same key (the STREAM is
/// deterministic: same key, same chunk, same nonce), so the SHA-256 still covers every byte.
/// The file is locked (`flock`) while open: one process writes it at a time. Reads and
/// writes go through one buffer allocated once; memory does not grow with the file.
final class DecryptedFileSink {
    private let descriptor: Int32
    private let decryptor: AttachmentDecryptor
    private let hash: OpenSSLSHA256
    /// The plaintext of the chunks a piece completes: allocated once, grown only for a piece
    /// larger than any before.
    private var plain: UnsafeMutableRawBufferPointer
    /// Ciphertext bytes taken so far (those of the chunks kept from the partial file included).
    private(set) var received: UInt64
    /// Ciphertext bytes the partial file stood for when it was opened.
    let resumedAt: UInt64

    /// Opens (or creates, mode 0600) the partial file at `path` for a stream of `size`
    /// ciphertext bytes under `key`.
    init(path: String, key: [UInt8], crypto: any EndToEndCrypto, size: UInt64) throws {
        descriptor = Foundation.open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SecureClientFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            Foundation.close(descriptor)
            throw SecureClientFailure("another sealpost process is receiving this file now")
        }
        do {
            let hash = OpenSSLSHA256()
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { throw SecureClientFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
            let chunks = UInt64(max(0, info.st_size)) / UInt64(AttachmentStream.chunkSize)
            var kept = chunks > 0 ? chunks - 1 : 0
            if kept * UInt64(AttachmentStream.sealedChunkSize) >= size { kept = 0 }
            if kept > 0 { kept = try Self.rehash(descriptor, chunks: chunks, key: key, crypto: crypto, into: hash) }
            guard ftruncate(descriptor, off_t(kept * UInt64(AttachmentStream.chunkSize))) == 0,
                  lseek(descriptor, 0, SEEK_END) >= 0 else {
                throw SecureClientFailure("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            self.hash = hash
            received = kept * UInt64(AttachmentStream.sealedChunkSize)
            resumedAt = received
            decryptor = try AttachmentDecryptor(key: key, crypto: crypto, firstChunk: kept)
            plain = .allocate(byteCount: SecureClient.fileReadBytes + AttachmentStream.chunkSize, alignment: 16)
        } catch {
            Foundation.close(descriptor)
            throw error
        }
    }

    deinit {
        Foundation.close(descriptor)
        plain.deallocate()
    }

    /// Seals the first `chunks` whole chunks of the file again and hashes the ciphertext of all
    /// but the last (the encryptor holds the last back, not knowing it is not the stream's
    /// end). Returns how many chunks were hashed.
    private static func rehash(_ descriptor: Int32, chunks: UInt64, key: [UInt8], crypto: any EndToEndCrypto,
                               into hash: OpenSSLSHA256) throws -> UInt64 {
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        let piece = SecureClient.fileReadBytes
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 16)
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: (piece / AttachmentStream.chunkSize + 2) * AttachmentStream.sealedChunkSize,
                                                            alignment: 16)
        defer {
            plain.deallocate()
            sealed.deallocate()
        }
        var left = chunks * UInt64(AttachmentStream.chunkSize)
        var offset: off_t = 0
        var hashed: UInt64 = 0
        while left > 0 {
            let want = Int(min(UInt64(piece), left))
            let read = pread(descriptor, plain.baseAddress, want, offset)
            if read < 0 && errno == EINTR { continue }
            guard read > 0 else { throw SecureClientFailure("reading the partial download failed: \(String(cString: strerror(errno)))") }
            let count = try encryptor.update(UnsafeRawBufferPointer(rebasing: plain[0..<read]), into: sealed)
            hash.update(UnsafeRawBufferPointer(rebasing: sealed[0..<count]))
            hashed += UInt64(count)
            left -= UInt64(read)
            offset += off_t(read)
        }
        return hashed / UInt64(AttachmentStream.sealedChunkSize)
    }

    /// Takes the next ciphertext bytes.
    ///
    /// - Throws: `AttachmentRejection` when a chunk does not verify.
    func take(_ bytes: [UInt8]) throws {
        let needed = decryptor.maximumOutput(forPiece: bytes.count)
        if needed > plain.count {
            plain.deallocate()
            plain = .allocate(byteCount: needed, alignment: 16)
        }
        let output = plain
        let count: Int
        do {
            count = try bytes.withUnsafeBytes { input in
                hash.update(input)
                return try decryptor.update(input, into: output)
            }
        } catch {
            throw AttachmentRejection("the attachment does not decrypt (\(error)): damaged or replaced; nothing was saved")
        }
        received += UInt64(bytes.count)
        try write(UnsafeRawBufferPointer(rebasing: output[0..<count]))
    }

    func digest() -> [UInt8] { hash.finish() }

    /// Opens the last chunk and flushes the file to disk.
    ///
    /// - Throws: `AttachmentRejection` for a truncated or damaged last chunk.
    func finish() throws {
        let count: Int
        do { count = try decryptor.finish(into: plain) } catch {
            throw AttachmentRejection("the attachment does not decrypt (\(error)): damaged or replaced; nothing was saved")
        }
        try write(UnsafeRawBufferPointer(rebasing: plain[0..<count]))
        guard fsync(descriptor) == 0 else { throw SecureClientFailure("cannot save the file: \(String(cString: strerror(errno)))") }
    }

    private func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let written = Foundation.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SecureClientFailure("cannot save the file: \(String(cString: strerror(errno)))") }
            done += written
        }
    }
}
