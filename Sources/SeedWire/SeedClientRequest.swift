import Domain
import NIOCore

/// Builds the client's requests (docs/protocol-v2.md §1.2, §3): client id (16), version (1),
/// code (1), payload size (u32 LE), payload. The one request encoder of the project: the
/// client transport, the load generator and the tests all write their requests with it.
///
/// Two layers: `writeHeader`/`writeSendHeader` store the fixed fields into caller-owned
/// memory (the load generator rewrites one buffer in place per request, with no
/// allocation); the `ByteBuffer` builders below are made of them. The raw layer takes
/// the code and type as bytes, so a test can also write what no well-behaved client would.
public enum SeedClientRequest {
    /// The version byte the client writes; the original client writes 2.
    public static let clientVersion: UInt8 = 2
    /// Where a send's content starts: request header (22) + send header (21).
    public static let sendContentOffset = SeedWire.requestHeaderSize + SeedWire.sendHeaderSize

    // MARK: - Into raw memory

    /// Stores the 22-byte request header at the start of `bytes`.
    ///
    /// - Precondition: `bytes` holds at least 22 bytes.
    public static func writeHeader(
        code: UInt8, requester: ClientID, payloadSize: UInt32, version: UInt8 = clientVersion,
        into bytes: UnsafeMutableRawBufferPointer
    ) {
        precondition(bytes.count >= SeedWire.requestHeaderSize, "a request header is 22 bytes")
        store(requester, into: bytes, at: 0)
        bytes[16] = version
        bytes[17] = code
        bytes.storeBytes(of: payloadSize.littleEndian, toByteOffset: 18, as: UInt32.self)
    }

    /// Stores the 21-byte head of a send's payload (recipient, type, content size) at the
    /// start of `bytes`.
    ///
    /// - Precondition: `bytes` holds at least 21 bytes.
    public static func writeSendHeader(
        type: UInt8, contentSize: UInt32, recipient: ClientID, into bytes: UnsafeMutableRawBufferPointer
    ) {
        precondition(bytes.count >= SeedWire.sendHeaderSize, "a send header is 21 bytes")
        store(recipient, into: bytes, at: 0)
        bytes[16] = type
        bytes.storeBytes(of: contentSize.littleEndian, toByteOffset: 17, as: UInt32.self)
    }

    /// Stores the first 43 bytes of a 103 (request header with payload size 21 +
    /// `contentSize`, then the send header); the content goes at `sendContentOffset`.
    ///
    /// - Precondition: `bytes` holds at least 43 bytes; `contentSize` leaves room for the
    ///   21-byte send header in a u32.
    public static func writeSendHead(
        type: UInt8, contentSize: UInt32, to recipient: ClientID, from sender: ClientID,
        version: UInt8 = clientVersion, into bytes: UnsafeMutableRawBufferPointer
    ) {
        writeHeader(code: SeedRequestCode.send.rawValue, requester: sender,
                    payloadSize: UInt32(SeedWire.sendHeaderSize) + contentSize, version: version, into: bytes)
        writeSendHeader(type: type, contentSize: contentSize, recipient: recipient,
                        into: UnsafeMutableRawBufferPointer(rebasing: bytes[SeedWire.requestHeaderSize...]))
    }

    /// Stores `id` in wire order (16 bytes) at `offset`.
    static func store(_ id: ClientID, into bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBytes(of: id.high.bigEndian, toByteOffset: offset, as: UInt64.self)
        bytes.storeBytes(of: id.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
    }

    // MARK: - As ByteBuffers

    /// The 22-byte request header.
    public static func header(
        _ code: SeedRequestCode, requester: ClientID, payloadSize: UInt32, version: UInt8 = clientVersion
    ) -> ByteBuffer {
        header(code: code.rawValue, requester: requester, payloadSize: payloadSize, version: version)
    }

    /// The 22-byte request header with any code byte.
    public static func header(code: UInt8, requester: ClientID, payloadSize: UInt32, version: UInt8 = clientVersion) -> ByteBuffer {
        fixed(SeedWire.requestHeaderSize) {
            writeHeader(code: code, requester: requester, payloadSize: payloadSize, version: version, into: $0)
        }
    }

    /// 100: header (all-zero id) + name field (255) + public key (160).
    public static func register(name: ClientName, publicKey: PublicKey, version: UInt8 = clientVersion) -> ByteBuffer {
        register(nameBytes: Array(name.value.utf8), publicKey: publicKey.bytes, version: version)
    }

    /// 100 with any name bytes, NUL-padded to the 255-byte field, and any key bytes; the
    /// header declares 415 whatever their lengths.
    ///
    /// - Precondition: `nameBytes` is at most 255 bytes.
    public static func register(nameBytes: [UInt8], publicKey: [UInt8], version: UInt8 = clientVersion) -> ByteBuffer {
        precondition(nameBytes.count <= ClientName.fieldSize, "the name field is 255 bytes")
        var buffer = header(.register, requester: .zero, payloadSize: UInt32(SeedWire.registerPayloadSize), version: version)
        buffer.writeBytes(nameBytes)
        buffer.writeRepeatingByte(0, count: ClientName.fieldSize - nameBytes.count)
        buffer.writeBytes(publicKey)
        return buffer
    }

    /// 101: the header alone.
    public static func listClients(requester: ClientID, version: UInt8 = clientVersion) -> ByteBuffer {
        header(.listClients, requester: requester, payloadSize: 0, version: version)
    }

    /// 102: header + target id (16).
    public static func publicKey(of target: ClientID, requester: ClientID, version: UInt8 = clientVersion) -> ByteBuffer {
        var buffer = header(.publicKey, requester: requester, payloadSize: UInt32(ClientID.byteCount), version: version)
        SeedResponse.write(target, into: &buffer)
        return buffer
    }

    /// 103 without its content: header + recipient (16) + type (1) + content size (u32 LE).
    ///
    /// - Precondition: `contentSize` leaves room for the 21-byte send header in a u32.
    public static func sendHead(_ kind: MessageKind, contentSize: UInt32, to recipient: ClientID, from sender: ClientID) -> ByteBuffer {
        sendHead(type: kind.rawValue, contentSize: contentSize, to: recipient, from: sender)
    }

    /// 103 without its content, with any type byte.
    public static func sendHead(
        type: UInt8, contentSize: UInt32, to recipient: ClientID, from sender: ClientID, version: UInt8 = clientVersion
    ) -> ByteBuffer {
        fixed(sendContentOffset) {
            writeSendHead(type: type, contentSize: contentSize, to: recipient, from: sender, version: version, into: $0)
        }
    }

    /// 103 whole: the head, then `content`.
    public static func send(
        type: UInt8, content: [UInt8], to recipient: ClientID, from sender: ClientID, version: UInt8 = clientVersion
    ) -> ByteBuffer {
        var buffer = sendHead(type: type, contentSize: UInt32(content.count), to: recipient, from: sender, version: version)
        buffer.writeBytes(content)
        return buffer
    }

    /// 104: the header alone.
    public static func pull(requester: ClientID, version: UInt8 = clientVersion) -> ByteBuffer {
        header(.pull, requester: requester, payloadSize: 0, version: version)
    }

    /// A buffer of `count` bytes filled by `body`.
    private static func fixed(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            let bytes = UnsafeMutableRawBufferPointer(rebasing: raw[0..<count])
            body(bytes)
            return count
        }
        return buffer
    }
}
