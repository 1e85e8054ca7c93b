import Adapters
import Domain
import NIOCore
import NIOEmbedded
import SeedWire
import Testing

@Suite("Seed request decoder")
struct SeedRequestDecoderTests {
    static let sender = ClientID(high: 0x1111_2222_3333_4444, low: 0x5555_6666_7777_8888)
    static let recipient = ClientID(high: 0xaaaa_bbbb_cccc_dddd, low: 0xeeee_ffff_0000_1111)

    private func header(_ code: SeedRequestCode, size: Int, id: ClientID = sender) -> SeedRequestHeader {
        SeedRequestHeader(clientID: id, version: 2, code: code, payloadSize: UInt32(size))
    }

    /// Feeds `bytes` in the ways `ByteToMessageDecoderVerifier` does (one byte at a time,
    /// all at once, uneven batches), each time into a fresh decoder, since a connection
    /// carries one request: every way must give exactly `expected`.
    private func verify(_ bytes: [UInt8], _ expected: SeedRequestPart, inlineLimit: UInt32 = 64 * 1024) throws {
        var generator = SystemRandomNumberGenerator()
        let splits: [[Int]] = [
            Array(repeating: 1, count: bytes.count),
            [bytes.count],
            [7, 3, 12, 1].flatMap { Array(repeating: $0, count: bytes.count) },
            (0..<bytes.count).map { _ in Int.random(in: 1...64, using: &generator) },
        ]
        for split in splits {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: inlineLimit)))
            var offset = 0
            var outputs: [SeedRequestPart] = []
            for size in split where offset < bytes.count {
                let end = min(offset + size, bytes.count)
                try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
                while let part = try channel.readInbound(as: SeedRequestPart.self) { outputs.append(part) }
                offset = end
            }
            #expect(offset == bytes.count)
            #expect(outputs == [expected], "split \(split.prefix(8))")
            #expect(try channel.finish().isClean)
        }
    }

    @Test("every request code, fed byte by byte and in batches")
    func everyCode() throws {
        let register = Requests.register("client1")
        try verify(register, .complete(.register(
            header(.register, size: 415, id: .zero),
            nameField: ByteBuffer(bytes: register[22..<277]), publicKey: ByteBuffer(bytes: register[277...]))))
        try verify(Requests.list(Self.sender), .complete(.listClients(header(.listClients, size: 0))))
        try verify(Requests.pull(Self.sender), .complete(.pull(header(.pull, size: 0))))
        try verify(Requests.publicKey(Self.sender, of: Self.recipient),
                   .complete(.publicKey(header(.publicKey, size: 16), target: Self.recipient)))
        let content: [UInt8] = Array(0..<200).map { UInt8($0) }
        try verify(Requests.send(Self.sender, to: Self.recipient, type: 3, content: content),
                   .complete(.send(header(.send, size: 221),
                                   MessageHeader(sender: Self.sender, recipient: Self.recipient, kind: .text, contentSize: 200),
                                   content: ByteBuffer(bytes: content))))
        try verify(Requests.send(Self.sender, to: Self.recipient, type: 1, content: []),
                   .complete(.send(header(.send, size: 21),
                                   MessageHeader(sender: Self.sender, recipient: Self.recipient, kind: .keyRequest, contentSize: 0),
                                   content: ByteBuffer())))
    }

    @Test("every recorded request of the original client decodes")
    func recordedRequests() throws {
        for exchange in try Fixtures.seedSession() {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 64 * 1024)))
            try channel.writeInbound(ByteBuffer(bytes: exchange.request))
            let part = try #require(try channel.readInbound(as: SeedRequestPart.self), "seq \(exchange.seq)")
            guard case .complete(let request) = part else {
                Issue.record("seq \(exchange.seq) did not decode whole")
                continue
            }
            #expect(request.header.code.rawValue == exchange.request[17])
            _ = try channel.finish()
        }
    }

    @Test("a large content streams in pieces that add up, and ends once", arguments: [1, 7, 4096, 100_000])
    func streams(pieceSize: Int) throws {
        let content = (0..<(pieceSize == 1 ? 9_000 : 120_000)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let bytes = Requests.send(Self.sender, to: Self.recipient, type: 4, content: content)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 1024)))
        var offset = 0
        var parts: [SeedRequestPart] = []
        while offset < bytes.count {
            let end = min(offset + pieceSize, bytes.count)
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
            while let part = try channel.readInbound(as: SeedRequestPart.self) { parts.append(part) }
            offset = end
        }
        guard case .sendHead(_, let message) = parts.first else {
            Issue.record("expected a sendHead first, got \(String(describing: parts.first))")
            return
        }
        #expect(message.kind == .file && message.contentSize == UInt32(content.count))
        var received: [UInt8] = []
        var lastFlags: [Bool] = []
        for part in parts.dropFirst() {
            guard case .content(let piece, let isLast) = part else {
                Issue.record("unexpected part \(part)")
                return
            }
            received += piece.readableBytesView
            lastFlags.append(isLast)
        }
        #expect(received == content)
        #expect(lastFlags.last == true)
        #expect(lastFlags.filter { $0 }.count == 1)
        _ = try channel.finish()
    }

    @Test("lying and impossible headers are refused before any payload is read")
    func refusals() throws {
        func decodeError(_ bytes: [UInt8], maxPayload: UInt32 = 1 << 30) -> SeedDecodeError? {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(SeedRequestDecoder(maxPayload: maxPayload, inlineLimit: 1024)))
            defer { _ = try? channel.finish() }
            do {
                try channel.writeInbound(ByteBuffer(bytes: bytes))
                return nil
            } catch let error as SeedDecodeError {
                return error
            } catch {
                return nil
            }
        }
        // A header that claims 4 GiB for a register: refused from the header alone.
        #expect(decodeError(Requests.header(Self.sender, code: 100, size: .max)) != nil)
        // Unknown code.
        #expect(decodeError(Requests.header(Self.sender, code: 99, size: 0)) == .unknownCode(99))
        // List with a payload.
        #expect(decodeError(Requests.header(Self.sender, code: 101, size: 5)) != nil)
        // Send with a payload shorter than its own header.
        #expect(decodeError(Requests.header(Self.sender, code: 103, size: 20)) != nil)
        // Send larger than the limit: refused from the header.
        #expect(decodeError(Requests.header(Self.sender, code: 103, size: 21 + 1001), maxPayload: 1000) == .contentTooLarge(size: 1001, limit: 1000))
        // Payload size disagreeing with content size.
        var lying = Requests.send(Self.sender, to: Self.recipient, type: 3, content: [1, 2, 3])
        lying[18] = 30
        #expect(decodeError(lying) == .sizeMismatch(payloadSize: 30, contentSize: 3))
        // Unknown message type.
        #expect(decodeError(Requests.send(Self.sender, to: Self.recipient, type: 9, content: [1])) == .unknownMessageType(9))
    }

    @Test("a connection closed mid-request is reported as truncated")
    func truncated() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 1024)))
        let bytes = Requests.register("client1")
        try channel.writeInbound(ByteBuffer(bytes: bytes.prefix(100)))
        #expect(throws: SeedDecodeError.self) { _ = try channel.finish() }
    }

    @Test("bytes after the one request are ignored")
    func trailingBytes() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 1024)))
        try channel.writeInbound(ByteBuffer(bytes: Requests.list(Self.sender) + Requests.pull(Self.sender)))
        #expect(try channel.readInbound(as: SeedRequestPart.self) == .complete(.listClients(header(.listClients, size: 0))))
        #expect(try channel.readInbound(as: SeedRequestPart.self) == nil)
        _ = try channel.finish()
    }
}
