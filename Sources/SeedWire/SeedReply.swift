import Domain
import NIOCore

/// Reads the server's replies on the client side (docs/protocol-v2.md §1.3 and §4): the
/// one reply parser of the project, for the client transport, the load generator and the
/// tests. Pure functions over bytes, so recorded replies can be checked without a socket;
/// the fixed-size heads also parse from raw memory, for the load generator's blocking
/// path.
public enum SeedReply {
    /// The 7-byte reply head: version (1, ignored: the original always writes 2), code
    /// (u16 LE), payload size (u32 LE).
    public struct Head: Hashable, Sendable {
        /// The version byte.
        public let version: UInt8
        /// The reply code.
        public let code: UInt16
        /// The payload size.
        public let payloadSize: UInt32

        public init(version: UInt8 = SeedWire.serverVersion, code: UInt16, payloadSize: UInt32) {
            self.version = version
            self.code = code
            self.payloadSize = payloadSize
        }

        /// Decodes the first 7 bytes of `bytes`.
        ///
        /// - Precondition: `bytes` holds at least 7 bytes.
        public init(bytes: UnsafeRawBufferPointer) {
            precondition(bytes.count >= SeedWire.responseHeaderSize, "a reply head is 7 bytes")
            self.init(
                version: bytes[0],
                code: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt16.self)),
                payloadSize: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 3, as: UInt32.self)))
        }
    }

    /// Decodes a head from the first 7 readable bytes of `buffer` and consumes them, or
    /// returns `nil` (consuming nothing) when fewer wait.
    public static func head(_ buffer: inout ByteBuffer) -> Head? {
        read(SeedWire.responseHeaderSize, from: &buffer, Head.init(bytes:))
    }

    /// Decodes the head of one 1004 entry and consumes its 25 bytes, or returns `nil`
    /// (consuming nothing) when fewer wait.
    public static func entry(_ buffer: inout ByteBuffer) -> PulledMessageHeader? {
        read(SeedWire.messageEntryHeaderSize, from: &buffer, PulledMessageHeader.init(bytes:))
    }

    /// Checks a head against the success code `expected` and the size `limit`.
    ///
    /// - Throws: `.failure` for 9000; `.malformed` for another code; `.tooLarge` past `limit`.
    public static func check(_ head: Head, expected: SeedResponseCode, limit: UInt64) throws(SeedReplyError) {
        if head.code == SeedResponseCode.failure.rawValue {
            throw .failure
        }
        guard head.code == expected.rawValue else {
            throw .malformed(reason: "reply code \(head.code), expected \(expected.rawValue)")
        }
        guard UInt64(head.payloadSize) <= limit else {
            throw .tooLarge(size: UInt64(head.payloadSize), limit: limit)
        }
    }

    /// 1000: the new client id (16 bytes).
    public static func registered(_ payload: ByteBuffer) throws(SeedReplyError) -> ClientID {
        guard payload.readableBytes == ClientID.byteCount, let id = ClientID(bytes: payload.readableBytesView) else {
            throw .malformed(reason: "a client id is 16 bytes, got \(payload.readableBytes)")
        }
        return id
    }

    /// 1001: id (16) + name field (255) per client.
    public static func clients(_ payload: ByteBuffer) throws(SeedReplyError) -> [ClientSummary] {
        let entry = ClientID.byteCount + ClientName.fieldSize
        guard payload.readableBytes % entry == 0 else {
            throw .malformed(reason: "\(payload.readableBytes) bytes is not a whole number of \(entry)-byte entries")
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
                throw .malformed(reason: "entry \(index + 1): \(error)")
            }
        }
        return out
    }

    /// 1002: target id (16) + public key (160); the id must be the one asked for.
    public static func publicKey(_ payload: ByteBuffer, of target: ClientID) throws(SeedReplyError) -> PublicKey {
        let expected = ClientID.byteCount + PublicKey.byteCount
        guard payload.readableBytes == expected else {
            throw .malformed(reason: "expected \(expected) bytes, got \(payload.readableBytes)")
        }
        let view = payload.readableBytesView
        guard ClientID(bytes: view.prefix(ClientID.byteCount)) == target else {
            throw .malformed(reason: "the reply names another client")
        }
        return try! PublicKey(bytes: Array(view.dropFirst(ClientID.byteCount)))
    }

    /// 1003: recipient (16) + message id (u32 LE).
    public static func sent(_ payload: ByteBuffer, to recipient: ClientID) throws(SeedReplyError) -> MessageID {
        var buffer = payload
        guard buffer.readableBytes == 20, let idBytes = buffer.readBytes(length: ClientID.byteCount),
              let id = buffer.readInteger(endianness: .little, as: UInt32.self)
        else {
            throw .malformed(reason: "expected 20 bytes, got \(payload.readableBytes)")
        }
        guard ClientID(bytes: idBytes) == recipient else {
            throw .malformed(reason: "the reply names another recipient")
        }
        // The client knows only the wire id, the stored id's low 32 bits (§8).
        return MessageID(UInt64(id))
    }

    /// 1004 held whole: calls `body` with each entry and its content, oldest first.
    ///
    /// - Throws: `.malformed` when an entry is cut short or bytes stray after the last.
    public static func messages(
        _ payload: UnsafeRawBufferPointer, _ body: (PulledMessageHeader, UnsafeRawBufferPointer) -> Void
    ) throws(SeedReplyError) {
        var offset = 0
        while offset < payload.count {
            let left = payload.count - offset
            guard left >= SeedWire.messageEntryHeaderSize else { throw strayBytes(UInt64(left)) }
            let entry = PulledMessageHeader(bytes: UnsafeRawBufferPointer(rebasing: payload[offset...]))
            offset += SeedWire.messageEntryHeaderSize
            if let overrun = overrun(entry, remaining: UInt64(payload.count - offset)) { throw overrun }
            let end = offset + Int(entry.contentSize)
            body(entry, UnsafeRawBufferPointer(rebasing: payload[offset..<end]))
            offset = end
        }
    }

    /// 1004 held whole, as a list.
    public static func messages(_ payload: [UInt8]) throws(SeedReplyError) -> [(header: PulledMessageHeader, content: [UInt8])] {
        var out: [(header: PulledMessageHeader, content: [UInt8])] = []
        var failure: SeedReplyError?
        payload.withUnsafeBytes { raw in
            do throws(SeedReplyError) {
                try messages(raw) { entry, content in out.append((entry, Array(content))) }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return out
    }

    /// The error for `count` bytes left in a 1004 payload, too few for an entry head.
    static func strayBytes(_ count: UInt64) -> SeedReplyError {
        .malformed(reason: "\(count) stray bytes after the last message")
    }

    /// The error for an entry whose content would run past the `remaining` payload bytes,
    /// or `nil` when it fits.
    static func overrun(_ entry: PulledMessageHeader, remaining: UInt64) -> SeedReplyError? {
        guard UInt64(entry.contentSize) > remaining else { return nil }
        return .malformed(reason: "message \(entry.id) declares \(entry.contentSize) bytes but only \(remaining) remain in the reply")
    }

    /// The 16 bytes at `offset` as a client id.
    static func clientID(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ClientID {
        ClientID(
            high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }

    /// Decodes `count` bytes with `decode` and consumes them, or `nil` when fewer wait.
    private static func read<T>(_ count: Int, from buffer: inout ByteBuffer, _ decode: (UnsafeRawBufferPointer) -> T) -> T? {
        guard buffer.readableBytes >= count else { return nil }
        let value = buffer.withUnsafeReadableBytes { decode(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        buffer.moveReaderIndex(forwardBy: count)
        return value
    }
}

extension PulledMessageHeader {
    /// Decodes the 25-byte head of a 1004 entry (docs/protocol-v2.md §4.5) from the first
    /// bytes of `bytes`: sender (16), message id (u32 LE), type (1), content size (u32 LE).
    /// The type byte is not judged.
    ///
    /// - Precondition: `bytes` holds at least 25 bytes.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= SeedWire.messageEntryHeaderSize, "a 1004 entry head is 25 bytes")
        self.init(
            sender: SeedReply.clientID(bytes, at: 0),
            id: MessageID(UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))),
            type: bytes[20],
            contentSize: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 21, as: UInt32.self)))
    }
}
