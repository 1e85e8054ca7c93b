import Domain
import NIOCore

/// The fixed 22-byte head of every request (docs/protocol-v2.md §1.2).
public struct SeedRequestHeader: Sendable, Hashable {
    /// The sender's id; all zero on register, the target's id on the original client's 102.
    public let clientID: ClientID
    /// The client's protocol version byte (the original sends 2 and nobody checks it).
    public let version: UInt8
    public let code: SeedRequestCode
    public let payloadSize: UInt32

    public init(clientID: ClientID, version: UInt8, code: SeedRequestCode, payloadSize: UInt32) {
        self.clientID = clientID
        self.version = version
        self.code = code
        self.payloadSize = payloadSize
    }

    /// Reads a header, or returns `nil` (and consumes nothing) when fewer than 22 bytes wait.
    ///
    /// - Throws: `SeedDecodeError.unknownCode` for a code outside 100...104.
    public static func decode(from buffer: inout ByteBuffer) throws(SeedDecodeError) -> SeedRequestHeader? {
        guard buffer.readableBytes >= SeedWire.requestHeaderSize else { return nil }
        let start = buffer.readerIndex
        let high = buffer.getInteger(at: start, endianness: .big, as: UInt64.self)!
        let low = buffer.getInteger(at: start + 8, endianness: .big, as: UInt64.self)!
        let version = buffer.getInteger(at: start + 16, as: UInt8.self)!
        let rawCode = buffer.getInteger(at: start + 17, as: UInt8.self)!
        let size = buffer.getInteger(at: start + 18, endianness: .little, as: UInt32.self)!
        guard let code = SeedRequestCode(rawValue: rawCode) else {
            throw .unknownCode(rawCode)
        }
        buffer.moveReaderIndex(forwardBy: SeedWire.requestHeaderSize)
        return SeedRequestHeader(clientID: ClientID(high: high, low: low), version: version, code: code, payloadSize: size)
    }
}
