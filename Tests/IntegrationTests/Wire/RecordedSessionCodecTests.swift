import Domain
import NIOCore
import SeedWire
import Testing

/// The codec (SeedWire) against the original client's recorded session
/// (Tests/Fixtures/vectors/seed_session.jsonl): every recorded request is written again by
/// `SeedClientRequest` and by an independent field-list encoder written here, and every
/// recorded reply is parsed by `SeedReply` and written again by `SeedResponse`; all of it
/// must equal the recorded bytes.
@Suite("Codec: the recorded session, encoded and parsed")
struct RecordedSessionCodecTests {
    /// The independent encoder: a message is a list of fields, each serialised on its own.
    /// It shares nothing with the codec but the protocol document (§1.2, §3).
    enum Field {
        case byte(UInt8)
        case le32(UInt32)
        case id(ClientID)
        /// `bytes`, then NULs up to `width`.
        case padded([UInt8], width: Int)
        case raw([UInt8])

        var encoded: [UInt8] {
            switch self {
            case .byte(let value): [value]
            case .le32(let value): (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
            case .id(let id): (0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? id.high : id.low) >> (8 * (7 - UInt64($0 % 8)))) }
            case .padded(let bytes, let width): bytes + [UInt8](repeating: 0, count: width - bytes.count)
            case .raw(let bytes): bytes
            }
        }
    }

    /// A request as the independent encoder writes it: header fields, then `payload`.
    static func independent(_ requester: ClientID, code: UInt8, _ payload: [Field]) -> [UInt8] {
        let body = payload.flatMap(\.encoded)
        return ([.id(requester), .byte(2), .byte(code), .le32(UInt32(body.count))] as [Field]).flatMap(\.encoded) + body
    }

    /// The request decoded by the server's decoder, then written by the codec and by the
    /// independent encoder.
    static func reencoded(_ recorded: [UInt8]) throws -> (codec: [UInt8], independent: [UInt8]) {
        var decoder = SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 1 << 30)
        var buffer = ByteBuffer(bytes: recorded)
        guard case .complete(let request) = try decoder.decode(buffer: &buffer) else {
            throw RecordingError("not a whole request")
        }
        #expect(buffer.readableBytes == 0)
        let header = request.header
        #expect(header.version == SeedClientRequest.clientVersion)
        let codec: ByteBuffer
        let fields: [Field]
        switch request {
        case .register(_, let nameField, let publicKey):
            let name = try ClientName(field: nameField.readableBytesView)
            let key = try PublicKey(bytes: Array(publicKey.readableBytesView))
            #expect(header.clientID == .zero)
            codec = SeedClientRequest.register(name: name, publicKey: key)
            fields = [.padded(Array(name.value.utf8), width: 255), .raw(key.bytes)]
        case .listClients:
            codec = SeedClientRequest.listClients(requester: header.clientID)
            fields = []
        case .publicKey(_, let target):
            codec = SeedClientRequest.publicKey(of: target, requester: header.clientID)
            fields = [.id(target)]
        case .send(_, let message, let content):
            var whole = SeedClientRequest.sendHead(message.kind, contentSize: message.contentSize, to: message.recipient, from: message.sender)
            whole.writeImmutableBuffer(content)
            codec = whole
            fields = [.id(message.recipient), .byte(message.kind.rawValue), .le32(message.contentSize), .raw(Array(content.readableBytesView))]
        case .pull:
            codec = SeedClientRequest.pull(requester: header.clientID)
            fields = []
        }
        return (Array(codec.readableBytesView), independent(header.clientID, code: header.code.rawValue, fields))
    }

    @Test("every recorded request: the codec writes the recorded bytes, and so does the independent encoder")
    func requests() throws {
        let session = try Fixtures.seedSession()
        #expect(session.count == 22)
        for exchange in session {
            let (codec, independent) = try Self.reencoded(exchange.request)
            #expect(Hex.encode(independent) == Hex.encode(exchange.request), "seq \(exchange.seq): the independent encoder")
            #expect(Hex.encode(codec) == Hex.encode(exchange.request), "seq \(exchange.seq): the codec")
        }
    }

    @Test("the raw header and send-head writers agree with the recording")
    func rawWriters() throws {
        for exchange in try Fixtures.seedSession() {
            var decoder = SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 1 << 30)
            var buffer = ByteBuffer(bytes: exchange.request)
            guard case .complete(let request) = try decoder.decode(buffer: &buffer) else { throw RecordingError("seq \(exchange.seq)") }
            var written = [UInt8](repeating: 0xEE, count: SeedClientRequest.sendContentOffset)
            if case .send(_, let message, _) = request {
                written.withUnsafeMutableBytes {
                    SeedClientRequest.writeSendHead(
                        type: message.kind.rawValue, contentSize: message.contentSize, to: message.recipient, from: message.sender, into: $0)
                }
                #expect(written == Array(exchange.request.prefix(SeedClientRequest.sendContentOffset)), "seq \(exchange.seq)")
            } else {
                let header = request.header
                written.withUnsafeMutableBytes {
                    SeedClientRequest.writeHeader(code: header.code.rawValue, requester: header.clientID, payloadSize: header.payloadSize, into: $0)
                }
                #expect(Array(written.prefix(SeedWire.requestHeaderSize)) == Array(exchange.request.prefix(SeedWire.requestHeaderSize)), "seq \(exchange.seq)")
                #expect(written[SeedWire.requestHeaderSize...].allSatisfy { $0 == 0xEE }, "seq \(exchange.seq): wrote past the header")
            }
        }
    }

    @Test("every recorded reply parses, and the server's encoder writes it again byte for byte")
    func replies() throws {
        let placeholderKey = try PublicKey(bytes: Array(repeating: 0, count: PublicKey.byteCount))
        for exchange in try Fixtures.seedSession() {
            let code = exchange.request[17]
            var buffer = ByteBuffer(bytes: exchange.response)
            let head = try #require(SeedReply.head(&buffer), "seq \(exchange.seq)")
            #expect(head.version == SeedWire.serverVersion)
            #expect(Int(head.payloadSize) == buffer.readableBytes, "seq \(exchange.seq)")
            let allocator = ByteBufferAllocator()
            let written: ByteBuffer
            if head.code == SeedResponseCode.failure.rawValue {
                #expect(throws: SeedReplyError.failure) { try SeedReply.check(head, expected: .registered, limit: 1 << 30) }
                written = SeedResponse.failure(allocator: allocator)
            } else {
                switch SeedRequestCode(rawValue: code)! {
                case .register:
                    try SeedReply.check(head, expected: .registered, limit: 1 << 30)
                    written = SeedResponse.registered(try SeedReply.registered(buffer), allocator: allocator)
                case .listClients:
                    try SeedReply.check(head, expected: .clients, limit: 1 << 30)
                    let clients = try SeedReply.clients(buffer).map { RegisteredClient(id: $0.id, name: $0.name, publicKey: placeholderKey) }
                    written = SeedResponse.clients(clients, allocator: allocator)
                case .publicKey:
                    try SeedReply.check(head, expected: .publicKey, limit: 1 << 30)
                    let target = try #require(ClientID(bytes: buffer.readableBytesView.prefix(16)))
                    let key = try SeedReply.publicKey(buffer, of: target)
                    written = SeedResponse.publicKey(
                        of: RegisteredClient(id: target, name: try ClientName("unnamed"), publicKey: key), allocator: allocator)
                case .send:
                    try SeedReply.check(head, expected: .sent, limit: 1 << 30)
                    let recipient = try #require(ClientID(bytes: exchange.request[22..<38]))
                    written = SeedResponse.sent(to: recipient, id: try SeedReply.sent(buffer, to: recipient), allocator: allocator)
                case .pull:
                    try SeedReply.check(head, expected: .messages, limit: 1 << 30)
                    let messages = try SeedReply.messages(Array(buffer.readableBytesView))
                    var out = allocator.buffer(capacity: exchange.response.count)
                    SeedResponse.writeHeader(.messages, payloadSize: head.payloadSize, into: &out)
                    for (entry, content) in messages {
                        let kind = try #require(MessageKind(rawValue: entry.type))
                        SeedResponse.writeEntryHeader(
                            Envelope(id: entry.id, sender: entry.sender, kind: kind, contentSize: entry.contentSize, inlineContent: content),
                            into: &out)
                        out.writeBytes(content)
                    }
                    written = out
                }
            }
            #expect(Hex.encode(Array(written.readableBytesView)) == Hex.encode(exchange.response), "seq \(exchange.seq)")
        }
    }

    @Test("a 1004 payload cut short or with stray bytes is malformed")
    func brokenPulls() throws {
        let reply = try #require(try Fixtures.seedSession().first { $0.seq == 19 })
        let payload = Array(reply.response.dropFirst(SeedWire.responseHeaderSize))
        #expect(try SeedReply.messages(payload).count == 3)
        #expect(throws: SeedReplyError.self) { try SeedReply.messages(Array(payload.dropLast())) }
        #expect(throws: SeedReplyError.self) { try SeedReply.messages(payload + [1, 2, 3]) }
    }

    struct RecordingError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
