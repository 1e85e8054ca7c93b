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
        } catch {
            Foundation.close(descriptor)
            throw error
        }
    }

    deinit { Foundation.close(descriptor) }

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
        bytes.withUnsafeBytes { hash.update($0) }
        received += UInt64(bytes.count)
        let plain: [UInt8]
        do { plain = try decryptor.update(bytes) } catch {
            throw AttachmentRejection("the attachment does not decrypt (\(error)): damaged or replaced; nothing was saved")
        }
        try write(plain)
    }

    func digest() -> [UInt8] { hash.finish() }

    /// Opens the last chunk and flushes the file to disk.
    ///
    /// - Throws: `AttachmentRejection` for a truncated or damaged last chunk.
    func finish() throws {
        let plain: [UInt8]
        do { plain = try decryptor.finish() } catch {
            throw AttachmentRejection("the attachment does not decrypt (\(error)): damaged or replaced; nothing was saved")
        }
        try write(plain)
        guard fsync(descriptor) == 0 else { throw SecureClientFailure("cannot save the file: \(String(cString: strerror(errno)))") }
    }

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw SecureClientFailure("cannot save the file: \(String(cString: strerror(errno)))") }
                done += written
            }
        }
    }
}
