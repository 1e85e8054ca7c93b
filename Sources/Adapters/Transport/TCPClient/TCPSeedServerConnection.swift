import Application
import Domain
import NIOCore
import NIOPosix
import SeedWire
#if canImport(Glibc)
import Glibc
#endif

/// The client's connection to a seed-protocol server over TCP (docs/protocol-v2.md §2):
/// one request per connection, on SwiftNIO, so no thread blocks on the socket.
///
/// Replies are checked as they arrive: the declared size against `maxReplySize` before
/// anything is read, every field against the protocol.
public struct TCPSeedServerConnection: SeedServerConnection {
    /// The server's host name or address.
    public let host: String
    /// The server's port.
    public let port: Int
    /// The largest reply payload accepted, in bytes.
    public let maxReplySize: UInt64
    /// How long a connection may see no traffic before it is given up.
    public let idleTimeout: TimeAmount

    /// The largest reply payload accepted by default: one pull of a 1 GiB file and its
    /// 25-byte entry head, plus the padding a 1 GiB file's ciphertext gets.
    public static let defaultMaxReplySize: UInt64 = (1 << 30) + 64

    /// Connects to `host:port` for each request.
    public init(host: String, port: Int, maxReplySize: UInt64 = defaultMaxReplySize, idleTimeout: TimeAmount = .seconds(60)) {
        self.host = host
        self.port = port
        self.maxReplySize = maxReplySize
        self.idleTimeout = idleTimeout
    }

    public func register(name: ClientName, publicKey: PublicKey) async throws -> ClientID {
        try await exchange("register", SeedClientRequest.register(name: name, publicKey: publicKey), expecting: .registered) {
            try SeedReply.registered($0)
        }
    }

    public func listClients(requester: ClientID) async throws -> [ClientSummary] {
        try await exchange("list clients", SeedClientRequest.listClients(requester: requester), expecting: .clients) {
            try SeedReply.clients($0)
        }
    }

    public func publicKey(of target: ClientID, requester: ClientID) async throws -> PublicKey {
        try await exchange("get public key", SeedClientRequest.publicKey(of: target, requester: requester), expecting: .publicKey) {
            try SeedReply.publicKey($0, of: target)
        }
    }

    public func send(_ kind: MessageKind, content: [UInt8], to recipient: ClientID, from sender: ClientID) async throws -> MessageID {
        guard content.count <= Int(UInt32.max) - SeedWire.sendHeaderSize else {
            throw ClientError.invalidArgument("a message of \(content.count) bytes is more than the protocol can carry")
        }
        let request = SeedClientRequest.send(type: kind.rawValue, content: content, to: recipient, from: sender)
        return try await exchange("send message", request, expecting: .sent) { try SeedReply.sent($0, to: recipient) }
    }

    public func send(
        _ kind: MessageKind, contentSize: UInt32, content: any OutgoingContent,
        to recipient: ClientID, from sender: ClientID
    ) async throws -> MessageID {
        guard UInt64(contentSize) + UInt64(SeedWire.sendHeaderSize) <= UInt64(UInt32.max) else {
            throw ClientError.invalidArgument("a message of \(contentSize) bytes is more than the protocol can carry")
        }
        let request = "send message"
        return try await withConnection(request) { reader, outbound in
            try await write(SeedClientRequest.sendHead(kind, contentSize: contentSize, to: recipient, from: sender), outbound, &reader, request)
            var written: UInt64 = 0
            while let chunk = try await content.nextChunk() {
                written += UInt64(chunk.count)
                guard written <= UInt64(contentSize) else { break }
                if !chunk.isEmpty { try await write(ByteBuffer(bytes: chunk), outbound, &reader, request) }
            }
            guard written == UInt64(contentSize) else {
                // Closing now leaves the request truncated, which the server discards.
                throw ClientError.localFile(path: "the file", reason: "it changed size while it was sent (\(written) bytes of ciphertext instead of \(contentSize))")
            }
            let payload = try await reader.payload(expecting: .sent, limit: maxReplySize)
            return try SeedReply.sent(payload, to: recipient)
        }
    }

    public func pull(requester: ClientID, into receiver: any PulledMessageReceiver) async throws {
        let request = "pull messages"
        try await withConnection(request) { reader, outbound in
            try await write(SeedClientRequest.pull(requester: requester), outbound, &reader, request)
            let head = try await reader.head()
            try SeedReply.check(head, expected: .messages, limit: maxReplySize)
            var pull = SeedPullReader(reader: reader, payloadSize: UInt64(head.payloadSize))
            try await pull.deliver(to: PulledMessageSink(receiver, request: request))
        }
    }

    // MARK: - One request, one reply

    private func exchange<T>(
        _ request: String, _ bytes: ByteBuffer, expecting code: SeedResponseCode,
        parse: (ByteBuffer) throws -> T
    ) async throws -> T {
        try await withConnection(request) { reader, outbound in
            try await write(bytes, outbound, &reader, request)
            return try parse(try await reader.payload(expecting: code, limit: maxReplySize))
        }
    }

    /// Writes `bytes`. When the server cut the connection, its reply may say why: a 9000
    /// that arrived before the write failed is reported as such.
    private func write(
        _ bytes: ByteBuffer, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ reader: inout SeedReplyReader, _ request: String
    ) async throws {
        do {
            try await outbound.write(bytes)
        } catch {
            if let head = try? await reader.head(), head.code == SeedResponseCode.failure.rawValue {
                throw ClientError.server(request: request)
            }
            throw ClientError.transport(request: request, reason: "the connection failed while sending: \(error)")
        }
    }

    private func withConnection<T>(
        _ request: String,
        _ body: (inout SeedReplyReader, NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> T
    ) async throws -> T {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            let timeout = idleTimeout
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: timeout))
                        try channel.pipeline.syncOperations.addHandler(ReplyTimeoutHandler())
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ClientError.cannotConnect(host: host, port: port, reason: Self.connectFailure(error))
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var reader = SeedReplyReader(inbound)
                return try await body(&reader, outbound)
            }
        } catch let error as ClientError {
            throw error
        } catch let error as SeedReplyError {
            throw ClientError(error, request: request)
        } catch {
            throw ClientError.transport(request: request, reason: "\(error)")
        }
    }

    /// A failed connect in words: the system's reason for the first failed address
    /// ("connection refused"), not NIO's description of its attempts.
    static func connectFailure(_ error: any Error) -> String {
        var failure: any Error = error
        if let connection = error as? NIOConnectionError, let first = connection.connectionErrors.first {
            failure = first.error
        }
        if let io = failure as? IOError {
            return String(cString: strerror(io.errnoCode)).lowercased()
        }
        if let channel = failure as? ChannelError, case .connectTimeout = channel {
            return "timed out"
        }
        return "\(failure)"
    }
}
