import Domain
import NIOCore

/// Builds the client's requests (docs/protocol-v2.md §1.2, §3): client id (16), version (1),
/// code (1), payload size (u32 LE), payload.
public enum SeedClientRequest {
    /// The version byte the client writes; the original client writes 2.
    public static let clientVersion: UInt8 = 2

    /// The 22-byte request header.
    public static func header(_ code: SeedRequestCode, requester: ClientID, payloadSize: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(SeedWire.requestHeaderSize)
        SeedResponse.write(requester, into: &buffer)
        buffer.writeInteger(clientVersion)
        buffer.writeInteger(code.rawValue)
        buffer.writeInteger(payloadSize, endianness: .little)
        return buffer
    }

    /// 100: header (all-zero id) + name field (255) + public key (160).
    public static func register(name: ClientName, publicKey: PublicKey) -> ByteBuffer {
        var buffer = header(.register, requester: .zero, payloadSize: UInt32(SeedWire.registerPayloadSize))
        buffer.writeBytes(name.field)
        buffer.writeBytes(publicKey.bytes)
        return buffer
    }

    /// 102: header + target id (16).
    public static func publicKey(of target: ClientID, requester: ClientID) -> ByteBuffer {
        var buffer = header(.publicKey, requester: requester, payloadSize: UInt32(ClientID.byteCount))
        SeedResponse.write(target, into: &buffer)
        return buffer
    }

    /// 103 without its content: header + recipient (16) + type (1) + content size (u32 LE).
    ///
    /// - Precondition: `contentSize` leaves room for the 21-byte send header in a u32.
    public static func sendHead(_ kind: MessageKind, contentSize: UInt32, to recipient: ClientID, from sender: ClientID) -> ByteBuffer {
        var buffer = header(.send, requester: sender, payloadSize: UInt32(SeedWire.sendHeaderSize) + contentSize)
        SeedResponse.write(recipient, into: &buffer)
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(contentSize, endianness: .little)
        return buffer
    }
}
