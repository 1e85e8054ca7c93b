import Foundation
import NIOCore
import SeedWire

/// `seed_session.jsonl`: every connection of a real session of the original client and server.
struct SeedSession {
    /// One TCP connection: all bytes sent each way.
    struct Connection {
        let request: [UInt8]
        let response: [UInt8]
    }

    /// A message as a 1004 reply or a 103 request carries it.
    struct Message {
        let peer: [UInt8]
        let type: UInt8
        let content: [UInt8]
    }

    let connections: [Int: Connection]

    static func load() throws -> SeedSession {
        let text = String(decoding: try CryptoFixtures.bytes("seed_session.jsonl"), as: UTF8.self)
        var connections: [Int: Connection] = [:]
        for line in text.split(separator: "\n") where !line.isEmpty {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let seq = object["seq"] as? Int,
                  let request = object["request_hex"] as? String,
                  let response = object["response_hex"] as? String
            else { throw FixtureError("bad session line") }
            connections[seq] = Connection(request: try CryptoFixtures.hex(request), response: try CryptoFixtures.hex(response))
        }
        return SeedSession(connections: connections)
    }

    func connection(_ seq: Int) throws -> Connection {
        guard let connection = connections[seq] else { throw FixtureError("no connection \(seq)") }
        return connection
    }

    /// The entries of a 1004 reply (docs/protocol-v2.md §4.5), read by the codec.
    func pulledMessages(_ seq: Int) throws -> [Message] {
        let reply = try Reply(try connection(seq).response)
        guard reply.version == 2, reply.code == SeedResponseCode.messages.rawValue else {
            throw FixtureError("connection \(seq) is not a 1004 reply")
        }
        return try SeedReply.messages(reply.payload).map { Message(peer: $0.header.sender.bytes, type: $0.header.type, content: $0.content) }
    }

    /// The message of a 103 request, read by the server's decoder.
    func sentMessage(_ seq: Int) throws -> Message {
        var decoder = SeedRequestDecoder(maxPayload: 1 << 30, inlineLimit: 1 << 30)
        var buffer = ByteBuffer(bytes: try connection(seq).request)
        guard case .complete(.send(_, let message, let content)) = try decoder.decode(buffer: &buffer), buffer.readableBytes == 0 else {
            throw FixtureError("connection \(seq) is not a whole 103 request")
        }
        return Message(peer: message.recipient.bytes, type: message.kind.rawValue, content: Array(content.readableBytesView))
    }

    /// The public key of a 100 register request: header(22), name(255), key(160).
    func registeredPublicKey(_ seq: Int) throws -> [UInt8] {
        let request = try connection(seq).request
        guard request.count == 437, request[17] == 100 else { throw FixtureError("connection \(seq) is not a register") }
        return Array(request[277..<437])
    }
}
