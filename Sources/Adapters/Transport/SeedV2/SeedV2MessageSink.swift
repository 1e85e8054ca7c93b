import Application
import Domain
import NIOCore
import SeedWire

/// A 1004 reply as a `MessageSink` (docs/protocol-v2.md §4.5): the head with the payload
/// size, then per message its 25-byte entry head and content. Small pieces are gathered
/// into one buffer; a streamed content goes out piece by piece behind its entry head.
/// `finish` returns once the peer's TCP acknowledged every byte (§7).
struct SeedV2MessageSink: MessageSink {
    let connection: StreamConnection
    private var buffer: ByteBuffer
    private static let gatherLimit = 256 * 1024

    init(connection: StreamConnection) {
        self.connection = connection
        self.buffer = SeedV2Requests.allocator.buffer(capacity: 4096)
    }

    mutating func begin(_ messages: [Envelope]) async throws {
        // The claim budget (`ClaimBudget.seedV2Pull`) keeps this within the 32-bit field.
        SeedResponse.writeHeader(.messages, payloadSize: SeedResponse.messagesPayloadSize(messages), into: &buffer)
    }

    mutating func beginMessage(_ message: Envelope) async throws {
        SeedResponse.writeEntryHeader(message, into: &buffer)
        if let content = message.inlineContent {
            buffer.writeBytes(content)
            // `write` returns while less than a megabyte waits for the socket, so the next
            // messages are gathered while these are still going out.
            if buffer.readableBytes >= Self.gatherLimit { try await sendGathered() }
        } else {
            try await sendGathered()
        }
    }

    mutating func write(_ piece: [UInt8]) async throws {
        try await connection.write(piece)
    }

    mutating func finish() async throws {
        if buffer.readableBytes > 0 { try await sendGathered() }
        try await connection.flush()
        try await connection.confirmDelivery()
    }

    private mutating func sendGathered() async throws {
        try await connection.write(buffer)
        buffer = SeedV2Requests.allocator.buffer(capacity: 4096)
    }
}
