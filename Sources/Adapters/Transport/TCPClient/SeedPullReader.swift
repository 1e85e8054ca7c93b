import Application
import Domain
import NIOCore

/// Streams the entries of a 1004 reply to a `PulledMessageReceiver` (docs/protocol-v2.md
/// §4.5), content in bounded chunks, so a large file is never held whole.
struct SeedPullReader {
    /// The most content handed over in one piece.
    static let chunkSize = 256 * 1024

    var reader: SeedReplyReader
    let payloadSize: UInt64

    /// Reads every entry. An entry that breaks off or overruns the payload ends with an
    /// error at the receiver, and then this throws the same error.
    mutating func deliver(to receiver: any PulledMessageReceiver) async throws {
        let request = reader.request
        var remaining = payloadSize
        while remaining > 0 {
            guard remaining >= UInt64(SeedWire.messageEntryHeaderSize) else {
                throw ClientError.malformedReply(request: request, reason: "\(remaining) stray bytes after the last message")
            }
            var bytes = try await reader.read(exactly: SeedWire.messageEntryHeaderSize, what: "a message header")
            let header = SeedReply.entryHeader(&bytes)!
            remaining -= UInt64(SeedWire.messageEntryHeaderSize)
            await receiver.begin(header)
            guard UInt64(header.contentSize) <= remaining else {
                let error = ClientError.malformedReply(
                    request: request,
                    reason: "message \(header.id) declares \(header.contentSize) bytes but only \(remaining) remain in the reply")
                await receiver.end(error: error)
                throw error
            }
            var left = UInt64(header.contentSize)
            do {
                while left > 0 {
                    let chunk = try await reader.next(upTo: Int(min(left, UInt64(Self.chunkSize))), what: "message \(header.id)")
                    left -= UInt64(chunk.readableBytes)
                    await receiver.content(Array(chunk.readableBytesView))
                }
            } catch let error as ClientError {
                await receiver.end(error: error)
                throw error
            }
            remaining -= UInt64(header.contentSize)
            await receiver.end(error: nil)
        }
    }
}
