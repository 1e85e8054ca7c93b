import Domain
import NIOCore
import SeedWire

/// The tests' requests, as `[UInt8]`, written by the codec (`SeedClientRequest`). The
/// builders take raw codes, type bytes and names, so a test can also write requests that
/// no well-behaved client would (an unknown code, a one-character name, a lying size).
/// `RecordedSessionCodecTests` checks the codec against the original client's recorded
/// bytes with a builder of its own.
enum Requests {
    static let samplePublicKey: [UInt8] = Array(repeating: 0x30, count: 160)

    static func header(_ id: ClientID, code: UInt8, size: UInt32, version: UInt8 = 2) -> [UInt8] {
        bytes(SeedClientRequest.header(code: code, requester: id, payloadSize: size, version: version))
    }

    static func register(_ name: String, key: [UInt8] = samplePublicKey) -> [UInt8] {
        bytes(SeedClientRequest.register(nameBytes: Array(name.utf8), publicKey: key))
    }

    static func list(_ id: ClientID) -> [UInt8] { bytes(SeedClientRequest.listClients(requester: id)) }

    static func publicKey(_ id: ClientID, of target: ClientID) -> [UInt8] {
        bytes(SeedClientRequest.publicKey(of: target, requester: id))
    }

    static func send(_ from: ClientID, to: ClientID, type: UInt8, content: [UInt8]) -> [UInt8] {
        bytes(SeedClientRequest.send(type: type, content: content, to: to, from: from))
    }

    static func pull(_ id: ClientID) -> [UInt8] { bytes(SeedClientRequest.pull(requester: id)) }

    private static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }
}

/// A server reply, split by the codec's head parser.
struct Reply: Equatable {
    let version: UInt8
    let code: UInt16
    let payload: [UInt8]

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= SeedWire.responseHeaderSize else { throw ReplyError.short(bytes.count) }
        let head = bytes.withUnsafeBytes { SeedReply.Head(bytes: $0) }
        guard bytes.count == SeedWire.responseHeaderSize + Int(head.payloadSize) else {
            throw ReplyError.sizeMismatch(declared: Int(head.payloadSize), actual: bytes.count - SeedWire.responseHeaderSize)
        }
        version = head.version
        code = head.code
        payload = Array(bytes[SeedWire.responseHeaderSize...])
    }

    var clientID: ClientID? { ClientID(bytes: payload.prefix(16)) }

    /// Entries of a 1004 reply (none when the payload is malformed).
    var messages: [(from: ClientID, id: UInt32, type: UInt8, content: [UInt8])] {
        ((try? SeedReply.messages(payload)) ?? []).map { ($0.header.sender, UInt32(truncatingIfNeeded: $0.header.id.rawValue), $0.header.type, $0.content) }
    }
}

enum ReplyError: Error {
    case short(Int)
    case sizeMismatch(declared: Int, actual: Int)
}
