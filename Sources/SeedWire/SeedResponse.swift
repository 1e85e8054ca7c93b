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
        buffer.writeInteger(id.rawValue, endianness: .little)
        return buffer
    }

    /// The head of a 1004 entry: sender (16), message id (u32), type (1), size (u32).
    public static func writeEntryHeader(_ message: Envelope, into buffer: inout ByteBuffer) {
        write(message.sender, into: &buffer)
        buffer.writeInteger(message.id.rawValue, endianness: .little)
        buffer.writeInteger(message.kind.rawValue)
        buffer.writeInteger(message.contentSize, endianness: .little)
    }

    static func write(_ id: ClientID, into buffer: inout ByteBuffer) {
        buffer.writeInteger(id.high, endianness: .big)
        buffer.writeInteger(id.low, endianness: .big)
    }
}
