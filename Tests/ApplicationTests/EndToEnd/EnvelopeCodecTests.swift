@testable import Application
import Adapters
import Domain
import Testing

@Suite("Envelope and content codec")
struct EnvelopeCodecTests {
    @Test("Every prefix of an envelope, and an envelope with a byte more, is refused; the whole parses back to its bytes")
    func strictParsing() throws {
        let fixture = try E2EFixture()
        var (alice, _) = try fixture.peers()
        for envelope in [try alice.send("hello"), try alice.send(String(repeating: "x", count: 500))] {
            let parsed = try SealedEnvelope(bytes: envelope)
            #expect(parsed.encoded == envelope)
            for length in 0..<envelope.count {
                #expect(throws: EnvelopeFormatError.self) { try SealedEnvelope(bytes: Array(envelope[..<length])) }
            }
            #expect(throws: EnvelopeFormatError.trailingBytes(1)) { try SealedEnvelope(bytes: envelope + [0]) }
        }
    }

    @Test("Version, kind and the one-time prekey flag are checked")
    func fields() throws {
        let fixture = try E2EFixture()
        var (alice, _) = try fixture.peers()
        let envelope = try alice.send("x")
        var bytes = envelope
        bytes[0] = 2
        #expect(throws: EnvelopeFormatError.unsupportedVersion(2)) { try SealedEnvelope(bytes: bytes) }
        bytes = envelope
        bytes[1] = 3
        #expect(throws: EnvelopeFormatError.self) { try SealedEnvelope(bytes: bytes) }
        bytes = envelope
        bytes[34 + 32 + 32 + 64 + 32 + 4] = 2  // the one-time prekey flag
        #expect(throws: EnvelopeFormatError.self) { try SealedEnvelope(bytes: bytes) }
    }

    @Test("Content: padded to 160, typed, strict padding, unknown types kept")
    func content() throws {
        let pointer = try AttachmentPointer(id: [1, 2, 3], key: E2EFixture.bytes(9), size: 1 << 33, sha256: E2EFixture.bytes(7), fileName: "photo.jpg")
        for content in [MessageContent.text(""), .text("héllo"), .text(String(repeating: "z", count: 155)), .text(String(repeating: "z", count: 156)),
                        .attachment(pointer), .unsupported(type: 9, body: [1, 2])] {
            let padded = content.padded
            #expect(padded.count % 160 == 0 && !padded.isEmpty)
            #expect(try MessageContent(padded: padded) == content)
        }
        #expect(MessageContent.text(String(repeating: "z", count: 155)).padded.count == 160)
        #expect(MessageContent.text(String(repeating: "z", count: 156)).padded.count == 320)
        var bad = MessageContent.text("a").padded
        bad[100] = 1
        #expect(throws: EnvelopeFormatError.self) { try MessageContent(padded: bad) }
        let rejected: [(String, [UInt8])] = [
            ("length past the end", [1, 0, 0, 0, 200] + [UInt8](repeating: 0, count: 155)),
            ("not a multiple of 160", [1, 0, 0, 0, 1, 0x41]),
            ("empty", []),
            ("160 bytes of padding or more", MessageContent.text("a").padded + [UInt8](repeating: 0, count: 160)),
            ("text not UTF-8", [1, 0, 0, 0, 1, 0xFF] + [UInt8](repeating: 0, count: 154)),
        ]
        for (name, bytes) in rejected {
            #expect(throws: EnvelopeFormatError.self, "\(name)") { try MessageContent(padded: bytes) }
        }
        #expect(throws: EnvelopeFormatError.self) { try AttachmentPointer(id: [], key: E2EFixture.bytes(9), size: 0, sha256: E2EFixture.bytes(7), fileName: "") }
    }
}
