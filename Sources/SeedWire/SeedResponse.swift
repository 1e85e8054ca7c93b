import Domain
import NIOCore

/// Builds the server's replies (docs/protocol-v2.md §1.3): version (1), code (u16 LE),
/// payload size (u32 LE), payload.
public enum SeedResponse {
    /// The 7-byte response head.
    public static func writeHeader(_ code: SeedResponseCode, payloadSize: UInt32, into buffer: inout ByteBuffer) {
        buffer.writeInteger(SeedWire.serverVersion)
        buffer.writeInteger(code.rawValue, endianness: .little)
        buffer.writeInteger(payloadSize, endianness: .little)
    }

    /// 9000 with an empty payload.
    public static func failure(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: SeedWire.responseHeaderSize)
        writeHeader(.failure, payloadSize: 0, into: &buffer)
        return buffer
    }

    /// 1000: the new client id.
    public static func registered(_ id: ClientID, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: SeedWire.responseHeaderSize + 16)
        writeHeader(.registered, payloadSize: 16, into: &buffer)
        write(id, into: &buffer)
        return buffer
    }

    /// 1001: id (16) + name field (255) per client.
    public static func clients(_ clients: [RegisteredClient], allocator: ByteBufferAllocator) -> ByteBuffer {
        let entry = ClientID.byteCount + ClientName.fieldSize
        var buffer = allocator.buffer(capacity: SeedWire.responseHeaderSize + entry * clients.count)
        writeHeader(.clients, payloadSize: UInt32(entry * clients.count), into: &buffer)
        for client in clients {
            write(client.id, into: &buffer)
            let nameStart = buffer.writerIndex
            buffer.writeString(client.name.value)
            buffer.writeRepeatingByte(0, count: ClientName.fieldSize - (buffer.writerIndex - nameStart))
        }
        return buffer
    }

    /// 1002: target id (16) + public key (160).
    public static func publicKey(of client: RegisteredClient, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: SeedWire.responseHeaderSize + 16 + PublicKey.byteCount)
        writeHeader(.publicKey, payloadSize: UInt32(16 + PublicKey.byteCount), into: &buffer)
        write(client.id, into: &buffer)
        buffer.writeBytes(client.publicKey.bytes)
        return buffer
    }

    /// 1003: recipient id (16) + message id (u32 LE).
    public static func sent(to recipient: ClientID, id: MessageID, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: SeedWire.responseHeaderSize + 20)
        writeHeader(.sent, payloadSize: 20, into: &buffer)
        write(recipient, into: &buffer)
        buffer.writeInteger(wireID(id), endianness: .little)
        return buffer
    }

    /// The 4-byte id field of a 1003 or a 1004 entry: the low 32 bits of the stored id, so
    /// past 2^32 the wire ids start again at 0 (docs/protocol-v2.md §8).
    public static func wireID(_ id: MessageID) -> UInt32 {
        UInt32(truncatingIfNeeded: id.rawValue)
    }

    /// The largest content a 1004 can carry: one entry head plus the content must fit the
    /// 32-bit payload size. A content limit above it is lowered to it.
    public static let largestContent = UInt32.max - UInt32(SeedWire.messageEntryHeaderSize)

    /// What each entry of a 1004 costs on top of its content: its head.
    public static let perMessageOverhead = UInt64(SeedWire.messageEntryHeaderSize)

    /// The most one pull may claim: one 1004 carries at most min(2^32 − 1, one largest
    /// message) bytes (docs/protocol-v2.md §4.5); each entry costs `perMessageOverhead`
    /// plus its content.
    public static func pullBudgetBytes(contentLimit: UInt32) -> UInt64 {
        min(UInt64(UInt32.max), perMessageOverhead + UInt64(min(contentLimit, largestContent)))
    }

    /// The payload size of the 1004 that carries `messages`: Σ (entry head + content).
    /// A claim made within `pullBudgetBytes` always fits the 32-bit field.
    public static func messagesPayloadSize(_ messages: [Envelope]) -> UInt32 {
        let total = messages.reduce(UInt64(0)) { $0 + UInt64(SeedWire.messageEntryHeaderSize) + UInt64($1.contentSize) }
        return UInt32(total)
    }

    /// The head of a 1004 entry: sender (16), message id (u32), type (1), size (u32).
    public static func writeEntryHeader(_ message: Envelope, into buffer: inout ByteBuffer) {
        write(message.sender, into: &buffer)
        buffer.writeInteger(wireID(message.id), endianness: .little)
        buffer.writeInteger(message.kind.rawValue)
        buffer.writeInteger(message.contentSize, endianness: .little)
    }

    static func write(_ id: ClientID, into buffer: inout ByteBuffer) {
        buffer.writeInteger(id.high, endianness: .big)
        buffer.writeInteger(id.low, endianness: .big)
    }
}
