@testable import Application
import Adapters
import Domain
import Testing

/// The allocation-free paths the client streams files through: sealing and opening into one
/// reused buffer must give what the array paths give, and a damaged chunk must leave no
/// plaintext of it in the buffer.
@Suite("Attachments: STREAM into reused buffers")
struct AttachmentStreamBufferTests {
    let crypto = OpenSSLEndToEndCrypto()
    let key = E2EFixture.bytes(0x44)
    static let chunk = AttachmentStream.chunkSize

    /// Seals `data` in `piece`-byte pieces into one buffer; the sealed stream.
    func sealBuffered(_ data: [UInt8], piece: Int) throws -> [UInt8] {
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece + 2 * AttachmentStream.sealedChunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var sealed: [UInt8] = []
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + piece)
                let count = try encryptor.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), into: buffer)
                sealed += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                offset = end
            }
        }
        return sealed + (try encryptor.finish())
    }

    /// Opens `data` in `piece`-byte pieces into one buffer; the plaintext.
    func openBuffered(_ data: [UInt8], piece: Int, buffer: UnsafeMutableRawBufferPointer) throws -> [UInt8] {
        let decryptor = try AttachmentDecryptor(key: key, crypto: crypto)
        var plain: [UInt8] = []
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + piece)
                #expect(decryptor.maximumOutput(forPiece: end - offset) <= buffer.count)
                let count = try decryptor.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), into: buffer)
                plain += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                offset = end
            }
        }
        let count = try decryptor.finish(into: buffer)
        return plain + UnsafeRawBufferPointer(rebasing: buffer[0..<count])
    }

    @Test("Buffered sealing and opening match the array paths, whatever the piece size", arguments: [
        (0, 1_000), (1, 1_000), (chunk, chunk), (chunk + 1, 7_777), (3 * chunk + 5, chunk + 16), (5 * chunk, 1 << 20),
    ])
    func roundTrip(size: Int, piece: Int) throws {
        let data = AttachmentStreamTests.plaintext(size)
        let sealed = try sealBuffered(data, piece: piece)
        #expect(UInt64(sealed.count) == AttachmentStream.sealedSize(ofPlaintext: UInt64(size)))
        let reference = try AttachmentEncryptor(key: key, crypto: crypto)
        #expect(sealed == (try reference.update(data)) + (try reference.finish()))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece + AttachmentStream.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        #expect(try openBuffered(sealed, piece: piece, buffer: buffer) == data)
    }

    @Test("A flipped bit fails the buffered open, and the buffer keeps no plaintext of that chunk")
    func damaged() throws {
        let data = [UInt8](repeating: 0x61, count: 3 * Self.chunk)
        var sealed = try sealBuffered(data, piece: Self.chunk)
        sealed[AttachmentStream.sealedChunkSize + 100] ^= 0x01
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * AttachmentStream.sealedChunkSize, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
        let decryptor = try AttachmentDecryptor(key: key, crypto: crypto)
        let firstTwo = Array(sealed[0..<(2 * AttachmentStream.sealedChunkSize + 1)])
        #expect(throws: CryptoError.self) {
            try firstTwo.withUnsafeBytes { _ = try decryptor.update($0, into: buffer) }
        }
        // The first chunk opened into the start; the damaged second one left zeros, not 0x61.
        let second = UnsafeRawBufferPointer(rebasing: buffer[Self.chunk..<(2 * Self.chunk)])
        #expect(!second.contains(0x61))
        #expect(throws: CryptoError.self) { _ = try decryptor.finish(into: buffer) }
    }
}
