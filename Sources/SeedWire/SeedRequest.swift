import Domain
import NIOCore

/// A decoded request, or a piece of a streamed one.
///
/// Requests with small payloads arrive whole (`complete`). A send whose content is
/// larger than the inline limit arrives as `sendHead`, then `content` pieces as the bytes
/// come off the socket, the last one flagged: the content is never held whole.
public enum SeedRequestPart: Sendable, Hashable {
    case complete(SeedRequest)
    case sendHead(SeedRequestHeader, MessageHeader)
    case content(ByteBuffer, isLast: Bool)
}

/// A whole request.
public enum SeedRequest: Sendable, Hashable {
    /// 100: the name field and key are checked by the use case, not the codec.
    case register(SeedRequestHeader, nameField: ByteBuffer, publicKey: ByteBuffer)
    /// 101
    case listClients(SeedRequestHeader)
    /// 102
    case publicKey(SeedRequestHeader, target: ClientID)
    /// 103 with its content in memory.
    case send(SeedRequestHeader, MessageHeader, content: ByteBuffer)
    /// 104
    case pull(SeedRequestHeader)

    public var header: SeedRequestHeader {
        switch self {
        case .register(let h, _, _), .listClients(let h), .publicKey(let h, _), .send(let h, _, _), .pull(let h): h
        }
    }
}
