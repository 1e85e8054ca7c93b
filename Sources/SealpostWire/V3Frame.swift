import NIOCore

/// One protocol v3 frame (docs/protocol-v3.md §3): `u32 length ‖ u8 type ‖ u32 requestID ‖ body`.
public struct V3Frame: Hashable, Sendable {
    /// Bytes of the head after the length field: type and request id.
    public static let headSize = 5
    /// The length field itself.
    public static let lengthSize = 4
    /// The default for `maxFrameBytes`.
    public static let defaultMaxLength: UInt32 = 1 << 20

    public var type: UInt8
    public var requestID: UInt32
    public var body: ByteBuffer

    public init(type: UInt8, requestID: UInt32, body: ByteBuffer) {
        self.type = type
        self.requestID = requestID
        self.body = body
    }

    /// Appends the frame, length first.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(Self.headSize + body.readableBytes))
        buffer.writeInteger(type)
        buffer.writeInteger(requestID)
        var body = body
        buffer.writeBuffer(&body)
    }

    /// Writes a frame whose body `writeBody` appends, filling in the length afterwards, so a
    /// body is never built twice.
    public static func write(type: UInt8, requestID: UInt32, into buffer: inout ByteBuffer, _ writeBody: (inout ByteBuffer) -> Void) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(type)
        buffer.writeInteger(requestID)
        writeBody(&buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - start - lengthSize), at: start)
    }
}

/// Splits a byte stream into `V3Frame`s. The length is checked against `maxLength` from the
/// first four bytes, before any body is gathered, so a frame that lies about its length never
/// becomes an allocation of that size.
public struct V3FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = V3Frame

    private let maxLength: UInt32

    public init(maxLength: UInt32 = V3Frame.defaultMaxLength) {
        self.maxLength = max(UInt32(V3Frame.headSize), maxLength)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> V3Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= UInt32(V3Frame.headSize), length <= maxLength else {
            throw V3WireError.badFrameLength(length, limit: maxLength)
        }
        guard buffer.readableBytes >= V3Frame.lengthSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: V3Frame.lengthSize)
        let type: UInt8 = buffer.readInteger()!
        let requestID: UInt32 = buffer.readInteger()!
        let body = buffer.readSlice(length: Int(length) - V3Frame.headSize)!
        return V3Frame(type: type, requestID: requestID, body: body)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> V3Frame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        guard buffer.readableBytes > 0 else { return nil }
        let missing: Int
        if let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
            missing = V3Frame.lengthSize + Int(length) - buffer.readableBytes
        } else {
            missing = V3Frame.lengthSize - buffer.readableBytes
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        throw V3WireError.endedMidFrame(missing: missing)
    }
}
