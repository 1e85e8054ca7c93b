@testable import Application
import Adapters
import Domain
import Testing

@Suite("Attachments: AES-256-GCM STREAM")
struct AttachmentStreamTests {
    let crypto = OpenSSLEndToEndCrypto()
    let key = E2EFixture.bytes(0x33)
    static let chunk = AttachmentStream.chunkSize

    static func plaintext(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) } }

    /// Encrypts in pieces of `piece` bytes.
    func seal(_ data: [UInt8], piece: Int = 10_000) throws -> [UInt8] {
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        var out: [UInt8] = []
        var offset = 0
        while offset < data.count {
            let end = min(data.count, offset + piece)
            out += try encryptor.update(Array(data[offset..<end]))
            offset = end
        }
        return out + (try encryptor.finish())
    }

    func open(_ data: [UInt8], piece: Int = 7_777) throws -> [UInt8] {
        let decryptor = try AttachmentDecryptor(key: key, crypto: crypto)
        var out: [UInt8] = []
        var offset = 0
        while offset < data.count {
            let end = min(data.count, offset + piece)
            out += try decryptor.update(Array(data[offset..<end]))
            offset = end
        }
        return out + (try decryptor.finish())
    }

    @Test("Round trips: 0 and 1 bytes, exact multiples of 64 KiB, one byte over; sizes as sealedSize says", arguments: [
        0, 1, 100, chunk - 1, chunk, chunk + 1, 2 * chunk, 3 * chunk + 5,
    ])
    func roundTrip(size: Int) throws {
        let data = Self.plaintext(size)
        for piece in [1_000, Self.chunk, 200_000] {
            let sealed = try seal(data, piece: piece)
            #expect(UInt64(sealed.count) == AttachmentStream.sealedSize(ofPlaintext: UInt64(size)))
            #expect(try open(sealed, piece: piece) == data)
        }
    }

    @Test("The chunks are sealed under u88 counter ‖ last flag, nothing else")
    func nonces() throws {
        let data = Self.plaintext(Self.chunk + 10)
        let sealed = try seal(data)
        var nonce = [UInt8](repeating: 0, count: 12)
        AttachmentStream.writeNonce(&nonce, counter: 0, last: false)
        #expect(Array(sealed[0..<AttachmentStream.sealedChunkSize])
            == (try crypto.sealAESGCM(key: key, nonce: nonce, plaintext: Array(data[0..<Self.chunk]), associatedData: [])))
        AttachmentStream.writeNonce(&nonce, counter: 1, last: true)
        #expect(nonce == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
        #expect(Array(sealed[AttachmentStream.sealedChunkSize...])
            == (try crypto.sealAESGCM(key: key, nonce: nonce, plaintext: Array(data[Self.chunk...]), associatedData: [])))
    }

    @Test("Truncation, reordering and extension are detected")
    func tampering() throws {
        let exact = try seal(Self.plaintext(2 * Self.chunk))
        let ragged = try seal(Self.plaintext(2 * Self.chunk + 100))
        let full = AttachmentStream.sealedChunkSize
        var cases: [(String, [UInt8])] = [
            ("cut at a chunk boundary", Array(exact[..<full])),
            ("last chunk dropped", Array(ragged[..<(2 * full)])),
            ("cut inside a chunk", Array(ragged[..<(full + 500)])),
            ("cut inside the tag", Array(exact.dropLast(3))),
            ("nothing", []),
            ("chunks swapped", Array(exact[full...]) + Array(exact[..<full])),
            ("a chunk appended", ragged + Array(ragged[..<full])),
            ("a byte appended", exact + [0]),
            ("the last chunk repeated", ragged + Array(ragged[(2 * full)...])),
        ]
        var swapped = ragged
        swapped.replaceSubrange(0..<full, with: ragged[full..<(2 * full)])
        swapped.replaceSubrange(full..<(2 * full), with: ragged[0..<full])
        cases.append(("first two of three swapped", swapped))
        for (name, bytes) in cases {
            #expect(throws: CryptoError.self, "\(name)") { try open(bytes) }
        }
    }

    @Test("A flipped bit anywhere in a small attachment is rejected; in a large one, in each chunk")
    func bitFlips() throws {
        let small = try seal(Self.plaintext(40))
        for bit in 0..<small.count * 8 {
            var damaged = small
            damaged[bit / 8] ^= 1 << (bit % 8)
            #expect(throws: CryptoError.self, "bit \(bit)") { try open(damaged) }
        }
        let empty = try seal([])
        for bit in 0..<empty.count * 8 {
            var damaged = empty
            damaged[bit / 8] ^= 1 << (bit % 8)
            #expect(throws: CryptoError.self, "bit \(bit)") { try open(damaged) }
        }
        let large = try seal(Self.plaintext(2 * Self.chunk + 3))
        for position in [0, 1_000, AttachmentStream.sealedChunkSize - 1, AttachmentStream.sealedChunkSize + 5, large.count - 1] {
            var damaged = large
            damaged[position] ^= 0x80
            #expect(throws: CryptoError.self, "byte \(position)") { try open(damaged) }
        }
    }

    @Test("A wrong key fails; a finished stream refuses more")
    func misuse() throws {
        let sealed = try seal(Self.plaintext(10))
        let decryptor = try AttachmentDecryptor(key: E2EFixture.bytes(0x34), crypto: crypto)
        _ = try decryptor.update(sealed)
        #expect(throws: CryptoError.self) { try decryptor.finish() }
        let encryptor = try AttachmentEncryptor(key: key, crypto: crypto)
        _ = try encryptor.finish()
        #expect(throws: CryptoError.streamFinished) { try encryptor.update([1]) }
    }
}
