import Adapters
import Application

/// The attachments' STREAM on one core, fed as the client feeds it: plaintext pieces sealed
/// into one reused buffer (`EncryptedFileSource`), ciphertext pieces opened into one reused
/// buffer (`DecryptedFileSink`). Decryption runs over a sealed sample of at most 64 MiB kept
/// in memory, opened again with a fresh decryptor until the size is reached.
struct AttachmentStreamBench {
    static let sampleMib = 64

    let mebibytes: Int
    let pieceBytes: Int
    let crypto: OpenSSLEndToEndCrypto

    init(mebibytes: Int, pieceBytes: Int, crypto: OpenSSLEndToEndCrypto) {
        self.mebibytes = mebibytes
        // Whole chunks per piece, so that the plaintext repeats in step with the pieces.
        self.pieceBytes = max(pieceBytes / AttachmentStream.chunkSize, 1) * AttachmentStream.chunkSize
        self.crypto = crypto
    }

    struct Outcome {
        /// Each in MiB.
        var encrypt: BenchSpan
        var decrypt: BenchSpan
        var hashedEncrypt: BenchSpan
        var intact: Bool
    }

    func run() throws -> Outcome {
        var random = BenchRandom(state: 11)
        let piece = (0..<pieceBytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let key = try crypto.randomBytes(32)
        let pieces = max(mebibytes * (1 << 20) / pieceBytes, 1)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: pieceBytes + 2 * AttachmentStream.sealedChunkSize, alignment: 16)
        defer { output.deallocate() }

        // Warm up: OpenSSL picks its implementation, the pages of every buffer are touched.
        try encrypt(key: key, piece: piece, pieces: 4, output: output, hash: nil)
        let mib = Double(pieces * pieceBytes) / 1_048_576
        var watch = BenchStopwatch()
        try encrypt(key: key, piece: piece, pieces: pieces, output: output, hash: nil)
        let encrypted = BenchSpan(count: mib, watch)
        watch = BenchStopwatch()
        try encrypt(key: key, piece: piece, pieces: pieces, output: output, hash: OpenSSLSHA256())
        let hashed = BenchSpan(count: mib, watch)

        let samplePieces = min(pieces, Self.sampleMib * (1 << 20) / pieceBytes)
        let sample = try seal(key: key, piece: piece, pieces: samplePieces)
        let plainDigest = OpenSSLSHA256()
        for _ in 0..<samplePieces { piece.withUnsafeBytes { plainDigest.update($0) } }
        let openedDigest = OpenSSLSHA256()
        try decrypt(key: key, sample: sample, output: output, hash: openedDigest)
        let intact = plainDigest.finish() == openedDigest.finish()

        var opened = 0
        watch = BenchStopwatch()
        while opened < pieces {
            try decrypt(key: key, sample: sample, output: output, hash: nil)
            opened += samplePieces
        }
        let decrypted = BenchSpan(count: Double(opened * pieceBytes) / 1_048_576, watch)
        return Outcome(encrypt: encrypted, decrypt: decrypted, hashedEncrypt: hashed, intact: intact)
    }

    /// Seals `pieces` copies of `piece` as one stream.
    private func encrypt(key: [UInt8], piece: [UInt8], pieces: Int, output: UnsafeMutableRawBufferPointer,
                         hash: OpenSSLSHA256?) throws {
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        try piece.withUnsafeBytes { input in
            for _ in 0..<pieces {
                let count = try encryptor.update(input, into: output)
                hash?.update(UnsafeRawBufferPointer(rebasing: output[0..<count]))
            }
        }
        let last = try encryptor.finish()
        last.withUnsafeBytes { hash?.update($0) }
    }

    /// The sealed stream of `pieces` copies of `piece`, whole.
    private func seal(key: [UInt8], piece: [UInt8], pieces: Int) throws -> [UInt8] {
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        var sealed: [UInt8] = []
        sealed.reserveCapacity(Int(AttachmentStream.sealedSize(ofPlaintext: UInt64(pieces * piece.count))))
        for _ in 0..<pieces { sealed += try encryptor.update(piece) }
        sealed += try encryptor.finish()
        return sealed
    }

    /// Opens `sample` in pieces of `pieceBytes`.
    private func decrypt(key: [UInt8], sample: [UInt8], output: UnsafeMutableRawBufferPointer, hash: OpenSSLSHA256?) throws {
        let decryptor = try AttachmentDecryptor(key: key, crypto: crypto)
        try sample.withUnsafeBytes { input in
            var offset = 0
            while offset < input.count {
                let end = min(offset + pieceBytes, input.count)
                let count = try decryptor.update(UnsafeRawBufferPointer(rebasing: input[offset..<end]), into: output)
                hash?.update(UnsafeRawBufferPointer(rebasing: output[0..<count]))
                offset = end
            }
            let count = try decryptor.finish(into: output)
            hash?.update(UnsafeRawBufferPointer(rebasing: output[0..<count]))
        }
    }
}
