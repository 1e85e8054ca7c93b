import Foundation

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

    /// The entries of a 1004 reply: version(1) code(u16) size(u32), then per message
    /// from-id(16) msg-id(u32) type(1) size(u32) content (docs/protocol-v2.md §4.5).
    func pulledMessages(_ seq: Int) throws -> [Message] {
        let response = try connection(seq).response
        guard response.count >= 7, response[0] == 2, Self.u16(response, 1) == 1004 else {
            throw FixtureError("connection \(seq) is not a 1004 reply")
        }
        guard Int(Self.u32(response, 3)) == response.count - 7 else { throw FixtureError("payload size mismatch") }
        var messages: [Message] = []
        var offset = 7
        while offset < response.count {
            guard offset + 25 <= response.count else { throw FixtureError("truncated entry") }
            let size = Int(Self.u32(response, offset + 21))
            let start = offset + 25
            guard start + size <= response.count else { throw FixtureError("truncated content") }
            messages.append(Message(
                peer: Array(response[offset..<offset + 16]),
                type: response[offset + 20],
                content: Array(response[start..<start + size])
            ))
            offset = start + size
        }
        return messages
    }

    /// The message of a 103 request: header(22), then to-id(16) type(1) size(u32) content.
    func sentMessage(_ seq: Int) throws -> Message {
        let request = try connection(seq).request
        guard request.count >= 43, request[17] == 103 else { throw FixtureError("connection \(seq) is not a 103 request") }
        let size = Int(Self.u32(request, 39))
        guard request.count == 43 + size else { throw FixtureError("content size mismatch") }
        return Message(peer: Array(request[22..<38]), type: request[38], content: Array(request[43...]))
    }

    /// The public key of a 100 register request: header(22), name(255), key(160).
    func registeredPublicKey(_ seq: Int) throws -> [UInt8] {
        let request = try connection(seq).request
        guard request.count == 437, request[17] == 100 else { throw FixtureError("connection \(seq) is not a register") }
        return Array(request[277..<437])
    }

    private static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
    }
}
