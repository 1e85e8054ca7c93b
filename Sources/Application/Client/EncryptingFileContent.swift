import Domain

/// A file encrypted while it is read (message type 4: one AES-128-CBC stream, PKCS#7),
/// produced in pieces for `SeedServerConnection.send(_:contentSize:content:to:from:)`.
final class EncryptingFileContent: OutgoingContent {
    /// How much of the file is read at a time.
    static let chunkSize = 256 * 1024

    private let reader: any FileReader
    private let cipher: any StreamCipher
    private let progress: (any TransferProgress)?
    private var done: UInt64 = 0
    private var finished = false

    init(reader: any FileReader, cipher: any StreamCipher, progress: (any TransferProgress)?) {
        self.reader = reader
        self.cipher = cipher
        self.progress = progress
    }

    /// The ciphertext size of a `plaintextSize`-byte file: PKCS#7 always adds 1 to 16 bytes.
    static func ciphertextSize(of plaintextSize: UInt64) -> UInt64 {
        (plaintextSize / 16 + 1) * 16
    }

    func nextChunk() async throws -> [UInt8]? {
        if finished { return nil }
        let plain = try reader.read(upTo: Self.chunkSize)
        do {
            if plain.isEmpty {
                finished = true
                reader.close()
                progress?.finish()
                return try cipher.finish()
            }
            done += UInt64(plain.count)
            progress?.advance(to: done)
            return try cipher.update(plain)
        } catch {
            throw ClientError.crypto(error)
        }
    }
}
