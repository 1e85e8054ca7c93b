import Application
import Domain
import NIOCore

/// Reads the server's replies on the client side (docs/protocol-v2.md §1.3 and
/// §4). Pure functions over bytes, so recorded replies
/// can be checked without a socket.
public enum SeedReply {
    /// The 7-byte reply head: version (1, ignored: the original always writes 2), code
    /// (u16 LE), payload size (u32 LE).
    public struct Head: Hashable, Sendable {
        /// The reply code.
        public let code: UInt16
        /// The payload size.
        public let payloadSize: UInt32
    }

    /// Decodes a head from 7 bytes.
    public static func head(_ buffer: inout ByteBuffer) -> Head? {
        guard buffer.readableBytes >= SeedWire.responseHeaderSize,
              let _ = buffer.readInteger(as: UInt8.self),
              let code = buffer.readInteger(endianness: .little, as: UInt16.self),
              let size = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { return nil }
        return Head(code: code, payloadSize: size)
    }

    /// Checks a head against the success code `expected` and the size `limit`.
    ///
    /// - Throws: `ClientError.server` for 9000; `.malformedReply` for another code or a
    ///   failure that carries a payload; `.replyTooLarge` past `limit`.
    public static func check(_ head: Head, expected: SeedResponseCode, request: String, limit: UInt64) throws(ClientError) {
        if head.code == SeedResponseCode.failure.rawValue {
            throw .server(request: request)
        }
        guard head.code == expected.rawValue else {
            throw .malformedReply(request: request, reason: "reply code \(head.code), expected \(expected.rawValue)")
        }
        guard UInt64(head.payloadSize) <= limit else {
            throw .replyTooLarge(request: request, size: UInt64(head.payloadSize), limit: limit)
        }
    }

    /// 1000: the new client id (16 bytes).
    public static func registered(_ payload: ByteBuffer) throws(ClientError) -> ClientID {
        guard payload.readableBytes == ClientID.byteCount, let id = ClientID(bytes: payload.readableBytesView) else {
            throw .malformedReply(request: "register", reason: "a client id is 16 bytes, got \(payload.readableBytes)")
        }
        return id
    }

    /// 1001: id (16) + name field (255) per client.
    public static func clients(_ payload: ByteBuffer) throws(ClientError) -> [ClientSummary] {
        let entry = ClientID.byteCount + ClientName.fieldSize
        guard payload.readableBytes % entry == 0 else {
            throw .malformedReply(request: "list clients", reason: "\(payload.readableBytes) bytes is not a whole number of \(entry)-byte entries")
        }
        var buffer = payload
        var out: [ClientSummary] = []
        while buffer.readableBytes > 0 {
            let index = out.count
            let idBytes = buffer.readBytes(length: ClientID.byteCount)!
            let field = buffer.readBytes(length: ClientName.fieldSize)!
            do {
                out.append(ClientSummary(id: ClientID(bytes: idBytes)!, name: try ClientName(field: field)))
            } catch {
                throw .malformedReply(request: "list clients", reason: "entry \(index + 1): \(error)")
            }
        }
        return out
    }

    /// 1002: target id (16) + public key (160); the id must be the one asked for.
    public static func publicKey(_ payload: ByteBuffer, of target: ClientID) throws(ClientError) -> PublicKey {
        let expected = ClientID.byteCount + PublicKey.byteCount
        guard payload.readableBytes == expected else {
            throw .malformedReply(request: "get public key", reason: "expected \(expected) bytes, got \(payload.readableBytes)")
        }
        let view = payload.readableBytesView
        guard ClientID(bytes: view.prefix(16)) == target else {
            throw .malformedReply(request: "get public key", reason: "the reply names another client")
        }
        return try! PublicKey(bytes: Array(view.dropFirst(16)))
    }

    /// 1003: recipient (16) + message id (u32 LE).
    public static func sent(_ payload: ByteBuffer, to recipient: ClientID) throws(ClientError) -> MessageID {
        var buffer = payload
        guard buffer.readableBytes == 20, let idBytes = buffer.readBytes(length: 16),
              let id = buffer.readInteger(endianness: .little, as: UInt32.self)
        else {
            throw .malformedReply(request: "send message", reason: "expected 20 bytes, got \(payload.readableBytes)")
        }
        guard ClientID(bytes: idBytes) == recipient else {
            throw .malformedReply(request: "send message", reason: "the reply names another recipient")
        }
        // The client knows only the wire id, the stored id's low 32 bits (§8).
        return MessageID(UInt64(id))
    }

    /// The head of one 1004 entry: sender (16), message id (u32 LE), type (1), size (u32 LE).
    public static func entryHeader(_ buffer: inout ByteBuffer) -> PulledMessageHeader? {
        guard buffer.readableBytes >= SeedWire.messageEntryHeaderSize else { return nil }
        let sender = ClientID(bytes: buffer.readBytes(length: 16)!)!
        let id = buffer.readInteger(endianness: .little, as: UInt32.self)!
        let type = buffer.readInteger(as: UInt8.self)!
        let size = buffer.readInteger(endianness: .little, as: UInt32.self)!
        return PulledMessageHeader(sender: sender, id: MessageID(UInt64(id)), type: type, contentSize: size)
    }
}
