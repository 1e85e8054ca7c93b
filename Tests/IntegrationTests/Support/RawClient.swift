import NIOCore
import NIOPosix
import SeedWire

/// A bare TCP peer for tests: writes bytes exactly as given and reads whatever comes back.
enum RawClient {
    /// Connects, writes `request` (in pieces of `chunk` bytes when given), half-closes
    /// nothing, and reads until the server closes. Returns every byte received.
    static func exchange(_ request: [UInt8], port: Int, chunk: Int? = nil, closeAfterWrite: Bool = false) async throws -> [UInt8] {
        let channel = try await connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            if let chunk {
                var offset = 0
                while offset < request.count {
                    let end = min(offset + chunk, request.count)
                    try await outbound.write(ByteBuffer(bytes: request[offset..<end]))
                    offset = end
                }
            } else {
                try await outbound.write(ByteBuffer(bytes: request))
            }
            if closeAfterWrite {
                outbound.finish()
            }
            var received: [UInt8] = []
            for try await buffer in inbound {
                received.append(contentsOf: buffer.readableBytesView)
            }
            return received
        }
    }

    /// An open connection to the server on `port`.
    ///
    /// - Parameter receiveBuffer: a small `SO_RCVBUF` makes a client that stops reading
    ///   stop acknowledging too, as a slow or stalled peer would; by default the kernel's
    ///   buffer (megabytes on loopback) takes a whole large reply at once.
    static func connect(port: Int, receiveBuffer: Int? = nil) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        return try await bootstrap
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Half-closure on: `outbound.finish()` (closeAfterWrite) must send a FIN;
                    // without it the server sees nothing until its idle timeout.
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
    }

    /// Writes `request`, reads exactly one reply (its head says how long it is) and closes
    /// at once, without waiting for the server's end of stream, as a client that trusts the
    /// declared size does.
    static func exchangeClosingAfterReply(_ request: [UInt8], port: Int) async throws -> [UInt8] {
        let channel = try await connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: request))
            var received: [UInt8] = []
            for try await buffer in inbound {
                received.append(contentsOf: buffer.readableBytesView)
                if received.count >= SeedWire.responseHeaderSize {
                    let head = received.withUnsafeBytes { SeedReply.Head(bytes: $0) }
                    if received.count >= SeedWire.responseHeaderSize + Int(head.payloadSize) { break }
                }
            }
            return received
        }
    }

    /// Writes `request`, reads only `readCount` bytes of the reply, then resets the
    /// connection (SO_LINGER 0), as the original client does after a send.
    static func exchangeThenReset(_ request: [UInt8], port: Int, readCount: Int, receiveBuffer: Int? = nil) async throws -> [UInt8] {
        let channel = try await connect(port: port, receiveBuffer: receiveBuffer)
        if let provider = channel.channel as? any SocketOptionProvider {
            try await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: request))
            var received: [UInt8] = []
            for try await buffer in inbound {
                received.append(contentsOf: buffer.readableBytesView)
                if received.count >= readCount { break }
            }
            return Array(received.prefix(readCount))
        }
    }
}
