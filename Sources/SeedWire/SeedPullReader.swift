import Domain
import NIOCore

/// Takes the entries of a 1004 reply while they stream in: for each entry `begin`, then
/// `content` zero or more times, then `end` exactly once. Used from one task at a time.
public protocol SeedPullSink: AnyObject {
    /// An entry starts.
    func begin(_ header: PulledMessageHeader) async
    /// The next piece of the current entry's content.
    func content(_ chunk: [UInt8]) async
    /// The current entry is over: whole when `error` is `nil`, otherwise cut short or
    /// malformed.
    func end(error: SeedReplyError?) async
}

/// Streams the entries of a 1004 reply to a `SeedPullSink` (docs/protocol-v2.md §4.5),
/// content in bounded chunks, so a large file is never held whole.
public struct SeedPullReader {
    /// The most content handed over in one piece.
    public static let chunkSize = 256 * 1024

    public var reader: SeedReplyReader
    public let payloadSize: UInt64

    public init(reader: SeedReplyReader, payloadSize: UInt64) {
        self.reader = reader
        self.payloadSize = payloadSize
    }

    /// Reads every entry. An entry that breaks off or overruns the payload ends with an
    /// error at the sink, and then this throws the same error.
    public mutating func deliver(to sink: any SeedPullSink) async throws(SeedReplyError) {
        var remaining = payloadSize
        while remaining > 0 {
            guard remaining >= UInt64(SeedWire.messageEntryHeaderSize) else { throw SeedReply.strayBytes(remaining) }
            var bytes = try await reader.read(exactly: SeedWire.messageEntryHeaderSize, what: "a message header")
            let entry = SeedReply.entry(&bytes)!
            remaining -= UInt64(SeedWire.messageEntryHeaderSize)
            await sink.begin(entry)
            if let error = SeedReply.overrun(entry, remaining: remaining) {
                await sink.end(error: error)
                throw error
            }
            var left = UInt64(entry.contentSize)
            do throws(SeedReplyError) {
                while left > 0 {
                    let chunk = try await reader.next(upTo: Int(min(left, UInt64(Self.chunkSize))), what: "message \(entry.id)")
                    left -= UInt64(chunk.readableBytes)
                    await sink.content(Array(chunk.readableBytesView))
                }
            } catch {
                await sink.end(error: error)
                throw error
            }
            remaining -= UInt64(entry.contentSize)
            await sink.end(error: nil)
        }
    }
}
