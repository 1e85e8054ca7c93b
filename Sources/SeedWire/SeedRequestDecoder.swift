import Domain
import NIOCore

/// Decodes the one request of a connection, one step at a time.
///
/// - Never waits for more than a bounded number of bytes: headers and small payloads
///   (at most 22 + 21 + `inlineLimit`) are gathered, larger contents are passed on as
///   they arrive.
/// - Checks every declared size against the request code and the limits *before*
///   anything is gathered, so a lying header never causes an allocation of its size.
/// - One request per connection (docs/protocol-v2.md §2.1): bytes after it are dropped.
public struct SeedRequestDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = SeedRequestPart

    enum State: Hashable {
        case header
        case payload(SeedRequestHeader)
        case streaming(remaining: UInt64)
        case finished
    }

    private var state: State = .header
    private let maxPayload: UInt32
    private let inlineLimit: UInt32

    /// - Parameters:
    ///   - maxPayload: the largest message content accepted.
    ///   - inlineLimit: contents up to this size arrive whole; larger ones stream.
    public init(maxPayload: UInt32, inlineLimit: UInt32) {
        // A content must fit one 1004 with its entry head.
        self.maxPayload = min(maxPayload, SeedResponse.largestContent)
        self.inlineLimit = min(inlineLimit, self.maxPayload)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> SeedRequestPart? {
        switch state {
        case .header:
            guard let header = try SeedRequestHeader.decode(from: &buffer) else { return nil }
            try check(header)
            state = .payload(header)
            return try decode(buffer: &buffer)

        case .payload(let header):
            return try decodePayload(header, from: &buffer)

        case .streaming(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let take = Int(min(UInt64(buffer.readableBytes), remaining))
            let piece = buffer.readSlice(length: take)!
            let left = remaining - UInt64(take)
            state = left == 0 ? .finished : .streaming(remaining: left)
            return .content(piece, isLast: left == 0)

        case .finished:
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return nil
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SeedRequestPart? {
        if let part = try decode(buffer: &buffer) { return part }
        switch state {
        case .header:
            // A peer that connects and leaves without a word is not an error; a partial
            // header is.
            if buffer.readableBytes > 0 {
                let missing = UInt64(SeedWire.requestHeaderSize - buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                state = .finished
                throw SeedDecodeError.truncated(missing: missing)
            }
            return nil
        case .payload(let header):
            let missing = UInt64(header.payloadSize) - UInt64(buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            state = .finished
            throw SeedDecodeError.truncated(missing: missing)
        case .streaming(let remaining):
            state = .finished
            throw SeedDecodeError.truncated(missing: remaining)
        case .finished:
            return nil
        }
    }

    /// Rejects sizes that do not fit the code, before any payload is read.
    private func check(_ header: SeedRequestHeader) throws(SeedDecodeError) {
        let size = header.payloadSize
        switch header.code {
        case .register:
            guard size == UInt32(SeedWire.registerPayloadSize) else {
                throw .badPayloadSize(code: header.code, size: size, expected: "\(SeedWire.registerPayloadSize)")
            }
        case .listClients, .pull:
            guard size == 0 else { throw .badPayloadSize(code: header.code, size: size, expected: "0") }
        case .publicKey:
            guard size == UInt32(ClientID.byteCount) else {
                throw .badPayloadSize(code: header.code, size: size, expected: "\(ClientID.byteCount)")
            }
        case .send:
            guard size >= UInt32(SeedWire.sendHeaderSize) else {
                throw .badPayloadSize(code: header.code, size: size, expected: "at least \(SeedWire.sendHeaderSize)")
            }
            guard UInt64(size) - UInt64(SeedWire.sendHeaderSize) <= UInt64(maxPayload) else {
                throw .contentTooLarge(size: size - UInt32(SeedWire.sendHeaderSize), limit: maxPayload)
            }
        }
    }

    private mutating func decodePayload(_ header: SeedRequestHeader, from buffer: inout ByteBuffer) throws -> SeedRequestPart? {
        switch header.code {
        case .register:
            guard buffer.readableBytes >= SeedWire.registerPayloadSize else { return nil }
            let name = buffer.readSlice(length: ClientName.fieldSize)!
            let key = buffer.readSlice(length: PublicKey.byteCount)!
            state = .finished
            return .complete(.register(header, nameField: name, publicKey: key))
        case .listClients:
            state = .finished
            return .complete(.listClients(header))
        case .pull:
            state = .finished
            return .complete(.pull(header))
        case .publicKey:
            guard buffer.readableBytes >= ClientID.byteCount else { return nil }
            let target = ClientID(
                high: buffer.readInteger(endianness: .big, as: UInt64.self)!,
                low: buffer.readInteger(endianness: .big, as: UInt64.self)!)
            state = .finished
            return .complete(.publicKey(header, target: target))
        case .send:
            return try decodeSend(header, from: &buffer)
        }
    }

    private mutating func decodeSend(_ header: SeedRequestHeader, from buffer: inout ByteBuffer) throws -> SeedRequestPart? {
        guard buffer.readableBytes >= SeedWire.sendHeaderSize else { return nil }
        let start = buffer.readerIndex
        let recipient = ClientID(
            high: buffer.getInteger(at: start, endianness: .big, as: UInt64.self)!,
            low: buffer.getInteger(at: start + 8, endianness: .big, as: UInt64.self)!)
        let rawType = buffer.getInteger(at: start + 16, as: UInt8.self)!
        let contentSize = buffer.getInteger(at: start + 17, endianness: .little, as: UInt32.self)!
        guard UInt64(header.payloadSize) == UInt64(SeedWire.sendHeaderSize) + UInt64(contentSize) else {
            state = .finished
            throw SeedDecodeError.sizeMismatch(payloadSize: header.payloadSize, contentSize: contentSize)
        }
        guard let kind = MessageKind(rawValue: rawType) else {
            state = .finished
            throw SeedDecodeError.unknownMessageType(rawType)
        }
        let message = MessageHeader(sender: header.clientID, recipient: recipient, kind: kind, contentSize: contentSize)
        if contentSize <= inlineLimit {
            guard buffer.readableBytes >= SeedWire.sendHeaderSize + Int(contentSize) else { return nil }
            buffer.moveReaderIndex(forwardBy: SeedWire.sendHeaderSize)
            let content = buffer.readSlice(length: Int(contentSize))!
            state = .finished
            return .complete(.send(header, message, content: content))
        }
        buffer.moveReaderIndex(forwardBy: SeedWire.sendHeaderSize)
        state = .streaming(remaining: UInt64(contentSize))
        return .sendHead(header, message)
    }
}
