import NIOCore
import NIOPosix
import SeedWire
import Synchronization

/// A fake server for the client's tests: for each connection it reads one request (header
/// and declared payload), answers with the next canned reply, and closes. Lets the tests
/// feed recorded or broken replies to the real client transport.
final class CannedServer: Sendable {
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let replies: Mutex<[[UInt8]]>
    /// The requests received, in order.
    let requests = Mutex<[[UInt8]]>([])

    var port: Int { channel.channel.localAddress!.port! }

    private init(channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, replies: [[UInt8]]) {
        self.channel = channel
        self.replies = Mutex(replies)
    }

    /// Serves `replies` in order (the last one again when they run out) while `body` runs.
    static func with<T: Sendable>(_ replies: [[UInt8]], _ body: @Sendable (CannedServer) async throws -> T) async throws -> T {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { child in
                child.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        let server = CannedServer(channel: channel, replies: replies)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { group.cancelAll() }
            let result = try await body(server)
            channel.channel.close(promise: nil)
            return result
        }
    }

    private func serve() async throws {
        try await channel.executeThenClose { inbound in
            for try await connection in inbound {
                try? await handle(connection)
            }
        }
    }

    private func handle(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var received: [UInt8] = []
            for try await buffer in inbound {
                received.append(contentsOf: buffer.readableBytesView)
                var bytes = ByteBuffer(bytes: received)
                if let header = try? SeedRequestHeader.decode(from: &bytes), bytes.readableBytes >= Int(header.payloadSize) { break }
            }
            let request = received
            requests.withLock { $0.append(request) }
            let reply = replies.withLock { list -> [UInt8] in
                list.count > 1 ? list.removeFirst() : (list.first ?? [])
            }
            try await outbound.write(ByteBuffer(bytes: reply))
        }
    }
}
