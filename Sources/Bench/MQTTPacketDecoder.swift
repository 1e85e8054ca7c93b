import NIOCore

/// Splits a byte stream from an MQTT broker into packets. The remaining length is read
/// strictly: at most four bytes, in its shortest form (a last byte of zero after a
/// continuation is refused), and checked against `maxLength` before the body is gathered.
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    private let maxLength: Int

    public init(maxLength: Int = 1 << 20) {
        self.maxLength = min(maxLength, MQTTPacket.maxRemainingLength)
    }

    /// The remaining length and the size of the fixed header, or nil when more bytes are needed.
    static func remainingLength(in buffer: ByteBuffer) throws -> (length: Int, headerSize: Int)? {
        let start = buffer.readerIndex
        var length = 0
        var shift = 0
        var index = 1
        while true {
            guard index <= 4 else { throw MQTTWireError.badRemainingLength("more than four bytes") }
            guard let byte = buffer.getInteger(at: start + index, as: UInt8.self) else { return nil }
            length |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if index > 1, byte == 0 { throw MQTTWireError.badRemainingLength("not in its shortest form") }
                return (length, index + 1)
            }
            shift += 7
            index += 1
        }
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard let (length, headerSize) = try Self.remainingLength(in: buffer) else { return nil }
        guard length <= maxLength else { throw MQTTWireError.tooLarge(length, limit: maxLength) }
        guard buffer.readableBytes >= headerSize + length else { return nil }
        buffer.moveReaderIndex(forwardBy: headerSize)
        let body = buffer.readSlice(length: length)!
        return try MQTTPacket.decode(first: first, body: body)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        if let packet = try decode(buffer: &buffer) { return packet }
        guard buffer.readableBytes > 0 else { return nil }
        let missing = (try? Self.remainingLength(in: buffer)).flatMap { $0 }.map { $0.headerSize + $0.length - buffer.readableBytes } ?? 1
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        throw MQTTWireError.endedMidPacket(missing: missing)
    }
}
