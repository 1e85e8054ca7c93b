/// The attachments' STREAM construction (docs/protocol-v3.md §10.6), as age uses it:
/// AES-256-GCM over 64 KiB chunks, chunk `i` sealed under the nonce
/// `u88 i ‖ u8 last`, so that truncation, reordering and extension all fail.
public enum AttachmentStream {
    /// The plaintext chunk size.
    public static let chunkSize = 65_536
    /// A sealed full chunk: the chunk and its 16-byte tag.
    public static let sealedChunkSize = chunkSize + 16

    /// The nonce of chunk `counter`, written into `nonce` (12 bytes) in place.
    static func writeNonce(_ nonce: inout [UInt8], counter: UInt64, last: Bool) {
        for index in 0..<3 { nonce[index] = 0 }
        for index in 0..<8 { nonce[3 + index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64(index))) }
        nonce[11] = last ? 1 : 0
    }

    /// The ciphertext size of a plaintext of `size` bytes.
    public static func sealedSize(ofPlaintext size: UInt64) -> UInt64 {
        let chunks = size == 0 ? 1 : (size + UInt64(chunkSize) - 1) / UInt64(chunkSize)
        return size + chunks * 16
    }
}

/// The chunking both directions share: bytes come in pieces of any size, and each whole chunk
/// is handed on once a byte after it is known (the last one waits for the stream's end).
/// Whole chunks inside a piece are handed on straight from it, never copied.
struct StreamChunker {
    /// The chunk size taken in (plaintext when sealing, sealed chunks when opening).
    let size: Int
    /// The start of the next chunk, less than a chunk.
    var pending: [UInt8] = []

    init(size: Int) {
        self.size = size
        pending.reserveCapacity(size)
    }

    /// Takes `piece`; `chunk` gets each chunk known not to be the last and the rest of
    /// `output`, and returns the bytes it wrote there.
    ///
    /// - Returns: the bytes written into `output`.
    mutating func take(_ piece: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                       _ chunk: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int) throws(CryptoError) -> Int {
        var written = 0
        var offset = 0
        while offset < piece.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: output[written...])
            if pending.count == size {
                written += try withBytes(pending) { input throws(CryptoError) in try chunk(input, rest) }
                pending.removeAll(keepingCapacity: true)
            } else if pending.isEmpty && piece.count - offset > size {
                written += try chunk(UnsafeRawBufferPointer(rebasing: piece[offset..<offset + size]), rest)
                offset += size
            } else {
                let count = min(piece.count - offset, size - pending.count)
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[offset..<offset + count]))
                offset += count
            }
        }
        return written
    }
}

/// A direction of the STREAM: `update(_:)` on arrays, from the in-place form.
public protocol AttachmentStreamTransform: AnyObject {
    /// The most bytes `update(_:into:)` writes for a piece of `count` bytes.
    func maximumOutput(forPiece count: Int) -> Int
    /// Takes the next piece and writes what it completes into the start of `output`.
    func update(_ piece: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int
}

extension AttachmentStreamTransform {
    /// Takes the next piece; returns what it completes (maybe nothing).
    public func update(_ piece: [UInt8]) throws(CryptoError) -> [UInt8] {
        var failure: CryptoError?
        let output = [UInt8](unsafeUninitializedCapacity: maximumOutput(forPiece: piece.count)) { buffer, count in
            count = 0
            piece.withUnsafeBytes { input in
                do throws(CryptoError) {
                    count = try update(input, into: UnsafeMutableRawBufferPointer(buffer))
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        return output
    }
}

/// Encrypts a file as a STREAM, taking plaintext in pieces of any size and giving sealed
/// chunks as soon as they are known not to be the last. Holds at most two chunks' worth of
/// plaintext, whatever the file's size. Not thread-safe.
public final class AttachmentEncryptor: AttachmentStreamTransform {
    private let cipher: any AEADChunkCipher
    private var chunker: StreamChunker
    private var nonce = [UInt8](repeating: 0, count: 12)
    private var counter: UInt64 = 0
    private var finished = false

    /// Starts a stream under `key` (32 fresh random bytes per file).
    public init(key: [UInt8], crypto: any EndToEndCrypto) throws(CryptoError) {
        cipher = try crypto.makeChunkCipher(key: key)
        chunker = StreamChunker(size: AttachmentStream.chunkSize)
    }

    /// The most bytes `update(_:into:)` writes for a piece of `count` bytes.
    public func maximumOutput(forPiece count: Int) -> Int {
        (chunker.pending.count + count) / AttachmentStream.chunkSize * AttachmentStream.sealedChunkSize
    }

    /// Takes the next piece of plaintext and writes the sealed chunks it completes into the
    /// start of `output` (at least `maximumOutput(forPiece:)` bytes): no allocation, no copy
    /// of whole chunks.
    ///
    /// - Returns: the bytes written (maybe none).
    public func update(_ piece: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard !finished else { throw .streamFinished }
        guard output.count >= maximumOutput(forPiece: piece.count) else {
            throw .invalidKey("the output holds \(output.count) bytes, not the \(maximumOutput(forPiece: piece.count)) it may need")
        }
        // A chunk is sealed only once a byte after it is known: the last one waits for finish().
        return try chunker.take(piece, into: output) { input, rest throws(CryptoError) in try sealChunk(input, last: false, into: rest) }
    }

    /// Seals what is left as the last chunk (empty only for an empty file) and ends the stream.
    public func finish() throws(CryptoError) -> [UInt8] {
        guard !finished else { throw .streamFinished }
        finished = true
        return try sealPending(last: true)
    }

    private func sealPending(last: Bool) throws(CryptoError) -> [UInt8] {
        let sealed = try withBytes(chunker.pending) { input throws(CryptoError) in try sealChunk(input, last: last) }
        chunker.pending.removeAll(keepingCapacity: true)
        return sealed
    }

    private func sealChunk(_ input: UnsafeRawBufferPointer, last: Bool, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard counter < 1 << 56 else { throw .invalidKey("the file has too many chunks") }
        AttachmentStream.writeNonce(&nonce, counter: counter, last: last)
        let written = try withBytes(nonce) { nonceBytes throws(CryptoError) in try cipher.seal(input, nonce: nonceBytes, into: output) }
        counter += 1
        return written
    }

    private func sealChunk(_ input: UnsafeRawBufferPointer, last: Bool) throws(CryptoError) -> [UInt8] {
        guard counter < 1 << 56 else { throw .invalidKey("the file has too many chunks") }
        AttachmentStream.writeNonce(&nonce, counter: counter, last: last)
        let sealed = try withBytes(nonce) { nonceBytes throws(CryptoError) in try cipher.seal(input, nonce: nonceBytes) }
        counter += 1
        return sealed
    }
}

/// Decrypts a STREAM, taking ciphertext in pieces of any size and giving plaintext chunk by
/// chunk, each only after its tag checked. `finish()` must succeed before the file is whole:
/// a stream cut at a chunk boundary fails there. Holds at most one sealed chunk. Not
/// thread-safe.
public final class AttachmentDecryptor: AttachmentStreamTransform {
    private let cipher: any AEADChunkCipher
    private var chunker: StreamChunker
    private var nonce = [UInt8](repeating: 0, count: 12)
    private var counter: UInt64 = 0
    private var finished = false

    /// Starts reading a stream under `key` at chunk `firstChunk` (a download that resumes
    /// after the chunks it has opened already; 0 for the whole stream).
    public init(key: [UInt8], crypto: any EndToEndCrypto, firstChunk: UInt64 = 0) throws(CryptoError) {
        cipher = try crypto.makeChunkCipher(key: key)
        counter = firstChunk
        chunker = StreamChunker(size: AttachmentStream.sealedChunkSize)
    }

    /// The most bytes `update(_:into:)` writes for a piece of `count` bytes.
    public func maximumOutput(forPiece count: Int) -> Int {
        (chunker.pending.count + count) / AttachmentStream.sealedChunkSize * AttachmentStream.chunkSize
    }

    /// Takes the next piece of ciphertext and writes the plaintext of the chunks it completes
    /// into the start of `output` (at least `maximumOutput(forPiece:)` bytes): no allocation,
    /// and whole chunks of the piece are opened straight from it, never copied first.
    ///
    /// - Returns: the bytes written (maybe none).
    /// - Throws: `CryptoError.decryptionFailed` for a damaged, reordered or misplaced chunk;
    ///   the stream is then finished, and `output` holds no plaintext of that chunk.
    public func update(_ piece: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard !finished else { throw .streamFinished }
        guard output.count >= maximumOutput(forPiece: piece.count) else {
            throw .invalidKey("the output holds \(output.count) bytes, not the \(maximumOutput(forPiece: piece.count)) it may need")
        }
        // A chunk is opened only once a byte after it is known: the last one waits for finish().
        return try chunker.take(piece, into: output) { input, rest throws(CryptoError) in try openChunk(input, last: false, into: rest) }
    }

    /// Opens what is left as the last chunk and ends the stream.
    ///
    /// - Throws: `CryptoError.decryptionFailed` when the stream was truncated (what is left
    ///   was not sealed as the last chunk, or nothing is left) or damaged.
    public func finish() throws(CryptoError) -> [UInt8] {
        guard !finished else { throw .streamFinished }
        var failure: CryptoError?
        let output = [UInt8](unsafeUninitializedCapacity: max(chunker.pending.count - 16, 0)) { buffer, count in
            count = 0
            do throws(CryptoError) {
                count = try finish(into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return output
    }

    /// `finish()` into the start of `output` (at least one chunk, `AttachmentStream.chunkSize`
    /// bytes), without allocating.
    ///
    /// - Returns: the bytes written.
    public func finish(into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard !finished else { throw .streamFinished }
        guard chunker.pending.count >= 16 else {
            finished = true
            throw .decryptionFailed("the attachment is truncated: it ends without its last chunk")
        }
        guard output.count >= chunker.pending.count - 16 else {
            throw .invalidKey("the output holds \(output.count) bytes, not the \(chunker.pending.count - 16) it may need")
        }
        let written = try openPending(last: true, into: output)
        finished = true
        return written
    }

    private func openPending(last: Bool, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        let written = try withBytes(chunker.pending) { input throws(CryptoError) in try openChunk(input, last: last, into: output) }
        chunker.pending.removeAll(keepingCapacity: true)
        return written
    }

    private func openChunk(_ input: UnsafeRawBufferPointer, last: Bool, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        AttachmentStream.writeNonce(&nonce, counter: counter, last: last)
        do {
            let written = try withBytes(nonce) { nonceBytes throws(CryptoError) in try cipher.open(input, nonce: nonceBytes, into: output) }
            counter += 1
            return written
        } catch {
            finished = true
            throw .decryptionFailed("attachment chunk \(counter) does not verify: damaged, truncated, reordered or extended")
        }
    }
}

/// `withUnsafeBytes` for a body with typed throws (the standard library's rethrows `any Error`).
func withBytes<Result>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CryptoError) -> Result) throws(CryptoError) -> Result {
    var outcome: Swift.Result<Result, CryptoError>?
    array.withUnsafeBytes { bytes in
        do throws(CryptoError) { outcome = .success(try body(bytes)) } catch { outcome = .failure(error) }
    }
    return try outcome!.get()
}
