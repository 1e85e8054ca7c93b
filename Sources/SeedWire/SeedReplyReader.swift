import NIOCore

/// Reads a reply from a connection's inbound stream, as much as asked and no more held
/// than one network read.
public struct SeedReplyReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var pending = ByteBuffer()

    public init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) {
        iterator = inbound.makeAsyncIterator()
    }

    /// The most `read(exactly:what:)` reserves before the bytes arrive.
    public static let maximumReservation = 64 * 1024

    /// Exactly `count` bytes. Memory follows the bytes that arrive, not `count`: a reply
    /// that only claims a large size costs no more than it sent.
    ///
    /// - Throws: `SeedReplyError.malformed` when the server closes before they arrive
    ///   ("truncated"); `.connection` when the connection fails.
    public mutating func read(exactly count: Int, what: String) async throws(SeedReplyError) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(min(count, Self.maximumReservation))
        while out.readableBytes < count {
            var chunk = try await next(upTo: count - out.readableBytes, what: what)
            out.writeBuffer(&chunk)
        }
        return out
    }

    /// The 7-byte reply head.
    ///
    /// - Throws: as `read(exactly:what:)`.
    public mutating func head() async throws(SeedReplyError) -> SeedReply.Head {
        var bytes = try await read(exactly: SeedWire.responseHeaderSize, what: "the reply header")
        return SeedReply.head(&bytes)!
    }

    /// A whole reply: its head, checked against the success code `code` and the size
    /// `limit` before anything else is read, then the payload.
    ///
    /// - Throws: as `SeedReply.check` and `read(exactly:what:)`.
    public mutating func payload(expecting code: SeedResponseCode, limit: UInt64) async throws(SeedReplyError) -> ByteBuffer {
        let head = try await head()
        try SeedReply.check(head, expected: code, limit: limit)
        return try await read(exactly: Int(head.payloadSize), what: "the reply payload")
    }

    /// Between 1 and `maximum` bytes.
    ///
    /// - Throws: as `read(exactly:what:)`.
    public mutating func next(upTo maximum: Int, what: String) async throws(SeedReplyError) -> ByteBuffer {
        if pending.readableBytes == 0 {
            let incoming: ByteBuffer?
            do {
                incoming = try await iterator.next()
            } catch let error as SeedReplyError {
                throw error
            } catch {
                throw .connection(reason: "the connection failed while reading \(what): \(error)")
            }
            guard let incoming else {
                throw .malformed(reason: "truncated: the server closed the connection in the middle of \(what)")
            }
            pending = incoming
        }
        return pending.readSlice(length: min(maximum, pending.readableBytes))!
    }
}
