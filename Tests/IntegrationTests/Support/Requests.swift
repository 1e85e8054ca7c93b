import Domain

/// Builds seed-protocol requests byte by byte, the way the original client writes them.
enum Requests {
    static let samplePublicKey: [UInt8] = Array(repeating: 0x30, count: 160)

    static func header(_ id: ClientID, code: UInt8, size: UInt32, version: UInt8 = 2) -> [UInt8] {
        var out = id.bytes
        out.append(version)
        out.append(code)
        out += withUnsafeBytes(of: size.littleEndian) { Array($0) }
        return out
    }

    static func register(_ name: String, key: [UInt8] = samplePublicKey) -> [UInt8] {
        var field = Array(name.utf8)
        field += Array(repeating: 0, count: 255 - field.count)
        return header(.zero, code: 100, size: 415) + field + key
    }

    static func list(_ id: ClientID) -> [UInt8] { header(id, code: 101, size: 0) }

    static func publicKey(_ id: ClientID, of target: ClientID) -> [UInt8] {
        header(id, code: 102, size: 16) + target.bytes
    }

    static func send(_ from: ClientID, to: ClientID, type: UInt8, content: [UInt8]) -> [UInt8] {
        header(from, code: 103, size: UInt32(21 + content.count)) + to.bytes + [type]
            + withUnsafeBytes(of: UInt32(content.count).littleEndian) { Array($0) } + content
    }

    static func pull(_ id: ClientID) -> [UInt8] { header(id, code: 104, size: 0) }
}

/// A parsed server reply.
struct Reply: Equatable {
    let version: UInt8
    let code: UInt16
    let payload: [UInt8]

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 7 else { throw ReplyError.short(bytes.count) }
        version = bytes[0]
        code = UInt16(bytes[1]) | UInt16(bytes[2]) << 8
        let size = Int(UInt32(bytes[3]) | UInt32(bytes[4]) << 8 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 24)
        guard bytes.count == 7 + size else { throw ReplyError.sizeMismatch(declared: size, actual: bytes.count - 7) }
        payload = Array(bytes[7...])
    }

    var clientID: ClientID? { ClientID(bytes: payload.prefix(16)) }

    /// Entries of a 1004 reply.
    var messages: [(from: ClientID, id: UInt32, type: UInt8, content: [UInt8])] {
        var out: [(ClientID, UInt32, UInt8, [UInt8])] = []
        var index = 0
        while index + 25 <= payload.count {
            let from = ClientID(bytes: payload[index..<index + 16])!
            let id = payload[(index + 16)..<(index + 20)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let type = payload[index + 20]
            let size = Int(payload[(index + 21)..<(index + 25)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            out.append((from, id, type, Array(payload[(index + 25)..<(index + 25 + size)])))
            index += 25 + size
        }
        return out
    }
}

enum ReplyError: Error {
    case short(Int)
    case sizeMismatch(declared: Int, actual: Int)
}
