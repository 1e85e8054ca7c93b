@testable import Application
import Adapters
import Testing

/// A measurement, not a benchmark gate: STREAM's throughput on this machine (compare with
/// `openssl speed -evp aes-256-gcm -bytes 65536`). Fails only when far off (under 100 MB/s).
@Suite("Attachment STREAM throughput")
struct AttachmentThroughputTests {
    @Test("Seal and open 128 MiB in 8 MiB pieces")
    func throughput() throws {
        let crypto = OpenSSLEndToEndCrypto()
        let key = [UInt8](repeating: 0x42, count: 32)
        let piece = [UInt8](repeating: 0x5A, count: 8 << 20)
        let rounds = 16
        let clock = ContinuousClock()
        // Warm up OpenSSL's implementation selection and the page cache of the piece.
        let warm = try AttachmentEncryptor(key: key, crypto: crypto)
        _ = try warm.update(piece)
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        var sealed: [[UInt8]] = []
        let sealTime = try clock.measure {
            for round in 0..<rounds {
                sealed.append(try encryptor.update(piece))
                _ = round
            }
            sealed.append(try encryptor.finish())
        }
        let decryptor = try AttachmentDecryptor(key: key, crypto: crypto)
        let openTime = try clock.measure {
            for part in sealed { _ = try decryptor.update(part) }
            _ = try decryptor.finish()
        }
        // The chunk cipher alone, 64 KiB at a time, for reference.
        let cipher = try crypto.makeChunkCipher(key: key)
        let nonce = [UInt8](repeating: 0, count: 12)
        let chunkTime = clock.measure {
            piece.withUnsafeBytes { bytes in
                nonce.withUnsafeBytes { nonceBytes in
                    for _ in 0..<rounds {
                        for offset in stride(from: 0, to: bytes.count, by: AttachmentStream.chunkSize) {
                            _ = try? cipher.seal(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + AttachmentStream.chunkSize]), nonce: nonceBytes)
                        }
                    }
                }
            }
        }
        // Sealing into one reused buffer (what send-file does).
        let buffered = try AttachmentEncryptor(key: key, crypto: crypto)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: buffered.maximumOutput(forPiece: piece.count) + AttachmentStream.sealedChunkSize,
                                                           alignment: 16)
        defer { output.deallocate() }
        var bufferedBytes = 0
        let bufferTime = try clock.measure {
            try piece.withUnsafeBytes { bytes in
                for _ in 0..<rounds { bufferedBytes += try buffered.update(bytes, into: output) }
            }
        }
        #expect(bufferedBytes == sealed.dropLast().reduce(0) { $0 + $1.count })
        let mib = Double(rounds * piece.count) / 1_048_576
        func rate(_ d: Duration) -> Double { mib / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }
        print("STREAM seal: \(Int(rate(sealTime))) MiB/s, into a buffer: \(Int(rate(bufferTime))) MiB/s, open: \(Int(rate(openTime))) MiB/s, bare chunk seal: \(Int(rate(chunkTime))) MiB/s (\(Int(mib)) MiB each)")
        #expect(rate(sealTime) > 100)
    }
}
