import Dispatch
import Domain
import FuzzDriver
import NIOCore
import SeedWire

// libFuzzer target for the client's reply parsing, driven the way the client transport
// drives it: `SeedReplyReader` over a connection's inbound stream (here a testing stream
// that delivers the input in pieces, then ends or fails), `SeedReply` for the head and
// the payloads of 1000-1003, `SeedPullReader` for the 1004 entry stream.
//
// Input layout: byte 0 chooses what the client asked for and how it is configured, byte 1
// seeds the piece sizes; the rest is what the server sends. Byte 0:
//   bits 0-2  the request: 0 register, 1 list clients, 2 get public key, 3 send, 4 pull
//             (5-7 wrap around)
//   bits 3-4  the reply-size limit: the client's default (1 GiB + 64), 4096, 271, 20
//   bit 5     the connection fails after the last byte instead of closing cleanly
//   bit 6     for 1002/1003, the client asked about the id the reply names (else a fixed
//             id, so the reply names another client)
//
// Every input is also run through a model of the protocol written here, independently
// of the parser; the parser's result must match it: the same value or the same kind of
// error, and for a pull the same messages with the same contents in the same order.
// Besides that, a violation of these traps immediately:
// - only `SeedReplyError` is thrown;
// - a payload is exactly its declared size and never declared beyond the limit;
// - a pulled message gets `begin`, `content`..., `end` in that order, never more content
//   bytes than its header declares, in pieces of at most `SeedPullReader.chunkSize`.
// Allocations of a claimed size are caught by running with `-malloc_limit_mb`.

/// The reply-size limits the fuzzer picks from: the client's default
/// (`TCPSeedServerConnection.defaultMaxReplySize`) and small ones that ordinary replies
/// cross (one list entry, a send reply).
private let limits: [UInt64] = [(1 << 30) + 64, 4096, 271, 20]

/// The id a 1002/1003 reply is checked against unless byte 0 says otherwise.
private let fixedTarget = ClientID(bytes: Array(0..<16))!

/// This program's `main` (see `runLibFuzzer`).
@_cdecl("ReplyParserFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc: argc, argv: argv, testOneInput: { data, size in fuzzReplyParser(data, size) })
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReplyParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let input = FuzzInput(control: data[0], pieceSeed: data[1], reply: Array(UnsafeBufferPointer(start: data + 2, count: size - 2)))
    // The parser is async, but nothing in it really waits: the stream holds every piece
    // before it is read. So the task starts on this thread and normally finishes before
    // `Task.immediate` returns (no hop to another thread, which cost two thirds of the
    // time); the semaphore covers a run that does suspend.
    let done = DispatchSemaphore(value: 0)
    Task.immediate {
        await input.run()
        done.signal()
    }
    done.wait()
    return 0
}

/// What the client asked for.
enum Path: Int, CaseIterable {
    case register, listClients, publicKey, send, pull

    var request: String {
        switch self {
        case .register: "register"
        case .listClients: "list clients"
        case .publicKey: "get public key"
        case .send: "send message"
        case .pull: "pull messages"
        }
    }

    var expected: SeedResponseCode {
        switch self {
        case .register: .registered
        case .listClients: .clients
        case .publicKey: .publicKey
        case .send: .sent
        case .pull: .messages
        }
    }
}

/// The error kinds the codec reports for a reply.
enum Failure: Error, Equatable {
    case server, malformed, tooLarge(size: UInt64, limit: UInt64), transport

    init(_ error: SeedReplyError) {
        switch error {
        case .failure: self = .server
        case .malformed: self = .malformed
        case .tooLarge(let size, let limit): self = .tooLarge(size: size, limit: limit)
        case .connection: self = .transport
        }
    }
}

/// What a non-pull exchange yields.
enum Parsed: Equatable {
    case registered(ClientID)
    case clients([ClientSummary])
    case publicKey(PublicKey)
    case sent(MessageID)
}

/// One pulled message as the receiver saw it (or the model predicts it).
struct Pulled: Equatable {
    var header: PulledMessageHeader
    var content: [UInt8] = []
    var end: Failure??
}

/// The connection failing under the reader (a reset).
struct ConnectionReset: Error {}

struct FuzzInput: Sendable {
    let control: UInt8
    let pieceSeed: UInt8
    let reply: [UInt8]

    var path: Path { Path(rawValue: Int(control & 7) % Path.allCases.count)! }
    var limit: UInt64 { limits[Int(control >> 3) & 3] }
    var failsAtEnd: Bool { control & 0x20 != 0 }
    /// The id the client asked about (1002) or sent to (1003).
    var target: ClientID {
        if control & 0x40 != 0, reply.count >= 7 + 16 { return ClientID(bytes: reply[7..<23])! }
        return fixedTarget
    }

    /// The reply in pieces of 1-64 bytes, or now and then everything left.
    var pieces: [ByteBuffer] {
        var seed = UInt64(pieceSeed) &+ 0x9E37_79B9_7F4A_7C15
        var out: [ByteBuffer] = []
        var offset = 0
        while offset < reply.count {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let roll = Int(truncatingIfNeeded: seed >> 33)
            let length = roll % 8 == 0 ? reply.count - offset : min(1 + roll % 64, reply.count - offset)
            out.append(ByteBuffer(bytes: reply[offset..<offset + length]))
            offset += length
        }
        return out
    }

    func run() async {
        let (stream, source) = NIOAsyncChannelInboundStream<ByteBuffer>.makeTestingStream()
        for piece in pieces { source.yield(piece) }
        source.finish(throwing: failsAtEnd ? ConnectionReset() : nil)
        var reader = SeedReplyReader(stream)
        let model = Model(input: self)
        if path == .pull {
            let receiver = CheckingReceiver()
            var outcome: Failure?
            do {
                let head = try await reader.head()
                try SeedReply.check(head, expected: .messages, limit: limit)
                precondition(UInt64(head.payloadSize) <= limit, "a pull beyond the limit was accepted")
                var pull = SeedPullReader(reader: reader, payloadSize: UInt64(head.payloadSize))
                try await pull.deliver(to: receiver)
            } catch {
                outcome = failure(error)
                if let last = receiver.messages.last, let ended = last.end, let failure = ended {
                    precondition(failure == outcome, "deliver threw \(error) but the message ended with \(failure)")
                }
            }
            precondition(receiver.current == nil, "a message began and never ended")
            let (messages, expected) = model.pull()
            precondition(outcome == expected, "pull: got \(String(describing: outcome)), the model says \(String(describing: expected))")
            precondition(receiver.messages == messages, "pull: the messages differ from the model's")
        } else {
            var outcome: Result<Parsed, Failure>
            do {
                let payload = try await reader.payload(expecting: path.expected, limit: limit)
                let declared = model.u32(at: 3)
                precondition(payload.readableBytes == Int(declared), "the payload is not its declared size")
                precondition(UInt64(declared) <= limit, "a payload beyond the limit was read")
                precondition(Array(payload.readableBytesView) == Array(reply[7..<7 + Int(declared)]), "the payload is not the bytes sent")
                outcome = .success(try parse(payload))
            } catch {
                outcome = .failure(failure(error))
            }
            let expected = model.exchange()
            precondition(outcome == expected, "\(path.request): got \(outcome), the model says \(expected)")
        }
    }

    func parse(_ payload: ByteBuffer) throws(SeedReplyError) -> Parsed {
        switch path {
        case .register: .registered(try SeedReply.registered(payload))
        case .listClients: .clients(try SeedReply.clients(payload))
        case .publicKey: .publicKey(try SeedReply.publicKey(payload, of: target))
        case .send: .sent(try SeedReply.sent(payload, to: target))
        case .pull: preconditionFailure("a pull has no whole payload")
        }
    }

    /// The kind of a thrown error; anything but a `SeedReplyError` traps.
    func failure(_ error: any Error) -> Failure {
        guard let error = error as? SeedReplyError else { preconditionFailure("not a SeedReplyError: \(error)") }
        return Failure(error)
    }
}

/// Records a pull as the client's inbox sees it and traps on a broken call order or an
/// oversized piece.
final class CheckingReceiver: SeedPullSink {
    var messages: [Pulled] = []
    var current: Pulled?

    func begin(_ header: PulledMessageHeader) async {
        precondition(current == nil, "begin before the previous message ended")
        current = Pulled(header: header)
    }

    func content(_ chunk: [UInt8]) async {
        guard var message = current else { preconditionFailure("content outside a message") }
        precondition(chunk.count <= SeedPullReader.chunkSize, "a piece larger than the chunk size")
        message.content += chunk
        precondition(message.content.count <= Int(message.header.contentSize), "more content bytes than declared")
        current = message
    }

    func end(error: SeedReplyError?) async {
        guard var message = current else { preconditionFailure("end outside a message") }
        if let error {
            switch error {
            case .malformed: message.end = .some(.malformed)
            case .connection: message.end = .some(.transport)
            default: preconditionFailure("a message ended with \(error)")
            }
        } else {
            precondition(message.content.count == Int(message.header.contentSize), "a message ended whole but short")
            message.end = .some(nil)
        }
        messages.append(message)
        current = nil
    }
}

/// The protocol as docs/protocol-v2.md states it (§1.3, §4), written out plainly over
/// the whole input.
struct Model {
    let input: FuzzInput
    var reply: [UInt8] { input.reply }

    /// Where the input runs out: a clean close is a malformed (truncated) reply, a failed
    /// connection a transport error.
    var cut: Failure { input.failsAtEnd ? .transport : .malformed }

    func u32(at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(reply[offset + $1]) << (8 * $1) }
    }

    /// The head's verdict, or the payload size it declares.
    func head() -> Result<UInt32, Failure> {
        guard reply.count >= 7 else { return .failure(cut) }
        let code = UInt16(reply[1]) | UInt16(reply[2]) << 8
        let size = u32(at: 3)
        if code == 9000 { return .failure(.server) }
        if code != input.path.expected.rawValue { return .failure(.malformed) }
        if UInt64(size) > input.limit { return .failure(.tooLarge(size: UInt64(size), limit: input.limit)) }
        return .success(size)
    }

    func exchange() -> Result<Parsed, Failure> {
        let size: Int
        switch head() {
        case .failure(let failure): return .failure(failure)
        case .success(let declared): size = Int(declared)
        }
        guard reply.count - 7 >= size else { return .failure(cut) }
        let payload = Array(reply[7..<7 + size])
        switch input.path {
        case .register:
            guard size == 16 else { return .failure(.malformed) }
            return .success(.registered(ClientID(bytes: payload)!))
        case .listClients:
            guard size % 271 == 0 else { return .failure(.malformed) }
            var clients: [ClientSummary] = []
            for start in stride(from: 0, to: size, by: 271) {
                guard let name = try? ClientName(field: payload[start + 16..<start + 271]) else { return .failure(.malformed) }
                clients.append(ClientSummary(id: ClientID(bytes: payload[start..<start + 16])!, name: name))
            }
            return .success(.clients(clients))
        case .publicKey:
            guard size == 176, ClientID(bytes: payload[0..<16]) == input.target else { return .failure(.malformed) }
            return .success(.publicKey(try! PublicKey(bytes: Array(payload[16...]))))
        case .send:
            guard size == 20, ClientID(bytes: payload[0..<16]) == input.target else { return .failure(.malformed) }
            return .success(.sent(MessageID(UInt64(u32(at: 7 + 16)))))
        case .pull:
            preconditionFailure("a pull is modelled by pull()")
        }
    }

    /// The messages a pull delivers and how it ends (`nil`: cleanly).
    func pull() -> ([Pulled], Failure?) {
        var remaining: Int
        switch head() {
        case .failure(let failure): return ([], failure)
        case .success(let declared): remaining = Int(declared)
        }
        var messages: [Pulled] = []
        var offset = 7
        while remaining > 0 {
            guard remaining >= 25 else { return (messages, .malformed) }
            guard reply.count - offset >= 25 else { return (messages, cut) }
            let header = PulledMessageHeader(
                sender: ClientID(bytes: reply[offset..<offset + 16])!, id: MessageID(UInt64(u32(at: offset + 16))),
                type: reply[offset + 20], contentSize: u32(at: offset + 21))
            offset += 25
            remaining -= 25
            var message = Pulled(header: header)
            let size = Int(header.contentSize)
            guard size <= remaining else {
                message.end = .some(.malformed)
                return (messages + [message], .malformed)
            }
            let available = min(size, reply.count - offset)
            message.content = Array(reply[offset..<offset + available])
            guard available == size else {
                message.end = .some(cut)
                return (messages + [message], cut)
            }
            message.end = .some(nil)
            messages.append(message)
            offset += size
            remaining -= size
        }
        return (messages, nil)
    }
}
