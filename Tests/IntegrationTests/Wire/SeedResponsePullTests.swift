import Adapters
import Application
import Domain
import NIOCore
import SeedWire
import Testing

/// How the v2 codec maps 64-bit ids to its 4-byte field and sizes a 1004 (docs/protocol-v2.md §4.5, §8).
@Suite("SeedResponse ids and pull sizes")
struct SeedResponsePullTests {
    let recipient = ClientID(high: 1, low: 2)

    @Test("the 4-byte id is the stored id's low 32 bits")
    func wireIDs() {
        #expect(SeedResponse.wireID(MessageID(7)) == 7)
        #expect(SeedResponse.wireID(MessageID(UInt64(UInt32.max))) == UInt32.max)
        #expect(SeedResponse.wireID(MessageID(1 << 32)) == 0)
        #expect(SeedResponse.wireID(MessageID(1 << 32 + 5)) == 5)

        let sent = SeedResponse.sent(to: recipient, id: MessageID(1 << 32 + 5), allocator: ByteBufferAllocator())
        #expect(Array(sent.readableBytesView.suffix(4)) == [5, 0, 0, 0])
        var entry = ByteBuffer()
        SeedResponse.writeEntryHeader(
            Envelope(id: MessageID(3 << 32 + 0x0102_0304), sender: recipient, kind: .text, contentSize: 9, inlineContent: nil),
            into: &entry)
        #expect(entry.readableBytes == SeedWire.messageEntryHeaderSize)
        #expect(Array(entry.readableBytesView.dropFirst(16).prefix(4)) == [4, 3, 2, 1])
    }

    @Test("a 1004 payload is Σ(25 + content); the pull budget fits the 32-bit size")
    func pullSizes() {
        let envelopes = [0, 3, 100].map {
            Envelope(id: MessageID(1), sender: recipient, kind: .text, contentSize: UInt32($0), inlineContent: nil)
        }
        #expect(SeedResponse.messagesPayloadSize(envelopes) == 25 * 3 + 103)
        #expect(SeedResponse.messagesPayloadSize([]) == 0)

        let defaults = ClaimBudget.seedV2Pull(contentLimit: 1 << 30)
        #expect(defaults.totalBytes == 1 << 30 + 25 && defaults.perMessageOverhead == 25)
        // A limit above what a 1004 can carry is lowered: one largest message fills 2^32 − 1.
        #expect(SeedResponse.largestContent == UInt32.max - 25)
        #expect(ClaimBudget.seedV2Pull(contentLimit: .max).totalBytes == UInt64(UInt32.max))
        var budget = ClaimBudget.seedV2Pull(contentLimit: .max)
        do { let fits = budget.admit(contentSize: SeedResponse.largestContent); #expect(fits) }
        #expect(budget.usedBytes == UInt64(UInt32.max))
        do { let fits = budget.admit(contentSize: 0); #expect(!fits) }
    }
}
