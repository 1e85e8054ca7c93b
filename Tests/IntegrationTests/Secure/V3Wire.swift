import Adapters
import Domain
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SealpostWire
import Synchronization

/// A lean raw v3 session for the process tests: one channel (TLS 1.3, ALPN `sealpost/3`, the
/// server's fingerprint pinned) whose frames queue in an inbox that a task reads, while any
/// task writes requests, pipelined as the test likes. Lighter than `SecureConnection` (no
/// `NIOAsyncChannel`, no task per session), so that a test can hold ten thousand of them.
final class V3Wire: Sendable {
    let channel: any Channel
    let hello: V3Hello
    /// SHA-256 of the certificate this client received (the channel binding).
    let certificateHash: [UInt8]
    private let inbox: V3WireInbox
    /// Answers read while waiting for another one.
    private let answers = Mutex<[UInt32: V3ServerMessage]>([:])

    private init(channel: any Channel, hello: V3Hello, certificateHash: [UInt8], inbox: V3WireInbox) {
        self.channel = channel
        self.hello = hello
        self.certificateHash = certificateHash
        self.inbox = inbox
    }

    /// The client TLS settings: TLS 1.3 only, ALPN `sealpost/3`; the certificate is checked
    /// against the pin in `connect`, not against a CA. One context serves every connection.
    static func makeContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.applicationProtocols = [SecureServer.applicationProtocol]
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates([])
        return try NIOSSLContext(configuration: tls)
    }

    /// Connects, completes TLS with the server pinned to `fingerprint`, and waits for HELLO.
    static func connect(
        port: Int, fingerprint: ServerFingerprint, context: NIOSSLContext,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: Duration = .seconds(20)
    ) async throws -> V3Wire {
        let inbox = V3WireInbox()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: nil) { certificates, promise in
                        guard let leaf = certificates.first, let seen = try? ServerFingerprint(of: leaf), seen == fingerprint,
                              let hash = try? ServerFingerprint.certificateHash(of: leaf) else {
                            promise.succeed(.failed)
                            return
                        }
                        inbox.certificateHash.withLock { $0 = hash }
                        promise.succeed(.certificateVerified)
                    }
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(V3FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(V3WireHandler(inbox: inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        do {
            guard case .hello(let hello) = try await inbox.next(on: channel.eventLoop, timeout: timeout) else {
                throw ProbeError("no HELLO")
            }
            return V3Wire(channel: channel, hello: hello, certificateHash: inbox.certificateHash.withLock { $0 }, inbox: inbox)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Writes `requests` (id and request) in one flush.
    func send(_ requests: [(UInt32, V3Request)]) async throws {
        var buffer = channel.allocator.buffer(capacity: 128 * requests.count)
        for (id, request) in requests { request.write(requestID: id, into: &buffer) }
        try await channel.writeAndFlush(buffer)
    }

    func send(_ request: V3Request, id: UInt32) async throws {
        try await send([(id, request)])
    }

    /// Writes bytes as they are.
    func send(raw bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// The next frame from the server; nil once the connection has closed.
    ///
    /// - Throws: `V3WireTimeout` when none came within `timeout`.
    func next(timeout: Duration = .seconds(20)) async throws -> V3ServerMessage? {
        try await inbox.next(on: channel.eventLoop, timeout: timeout)
    }

    /// Reads until the RESULT or ERROR of `id`; pushed frames on the way go to `pushed`, and
    /// the answers to other requests (answers come in any order) are kept for their turn.
    func answer(to id: UInt32, timeout: Duration = .seconds(20), pushed: (V3ServerMessage) -> Void = { _ in }) async throws -> V3ServerMessage {
        if let kept = answers.withLock({ $0.removeValue(forKey: id) }) { return kept }
        while let message = try await next(timeout: timeout) {
            switch message {
            case .result(id, _), .error(id, _): return message
            case .result(let other, _) where other != 0: answers.withLock { $0[other] = message }
            case .error(let other, _) where other != 0: answers.withLock { $0[other] = message }
            default: pushed(message)
            }
        }
        throw ProbeError("closed before the answer to \(id)")
    }

    /// Registers `account` (no one-time prekeys); returns its id.
    func register(_ account: V3TestAccount, id: UInt32 = 1) async throws -> AccountID {
        try await send(account.register(nonce: hello.nonce, certificateHash: certificateHash, prekeys: 0), id: id)
        guard case .result(_, let body) = try await answer(to: id), case .registered(let account) = try V3Result.decode(answering: .register, body: body) else {
            throw ProbeError("REGISTER \(account.name) refused")
        }
        return account
    }

    /// Authenticates as `account`'s `id`.
    func authenticate(_ account: V3TestAccount, as accountID: AccountID, id: UInt32 = 1) async throws {
        try await send(account.authenticate(accountID, nonce: hello.nonce, certificateHash: certificateHash), id: id)
        guard case .result = try await answer(to: id) else { throw ProbeError("AUTHENTICATE \(account.name) refused") }
    }

    func close() async {
        try? await channel.close()
    }
}

/// `next` found nothing within its timeout.
struct V3WireTimeout: Error, CustomStringConvertible {
    var description: String { "no frame within the timeout" }
}

/// The frames a `V3Wire` received and not yet read, and the one reader waiting for them.
final class V3WireInbox: Sendable {
    private struct State {
        var frames = CircularBuffer<Result<V3ServerMessage, any Error>>()
        var closed = false
        var waiter: (token: UInt64, continuation: CheckedContinuation<V3ServerMessage?, any Error>)?
        var nextToken: UInt64 = 0
    }

    private let state = Mutex(State())
    let certificateHash = Mutex<[UInt8]>([])

    func deliver(_ frame: Result<V3ServerMessage, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<V3ServerMessage?, any Error>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.frames.append(frame)
            return nil
        }
        waiter?.resume(with: frame.map { Optional($0) })
    }

    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<V3ServerMessage?, any Error>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    func next(on loop: any EventLoop, timeout: Duration) async throws -> V3ServerMessage? {
        try await withCheckedThrowingContinuation { continuation in
            let token: UInt64? = state.withLock { state in
                if let frame = state.frames.popFirst() {
                    continuation.resume(with: frame.map { Optional($0) })
                    return nil
                }
                if state.closed {
                    continuation.resume(returning: nil)
                    return nil
                }
                state.nextToken += 1
                state.waiter = (state.nextToken, continuation)
                return state.nextToken
            }
            guard let token else { return }
            loop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
                let expired = self.state.withLock { state -> CheckedContinuation<V3ServerMessage?, any Error>? in
                    guard let waiter = state.waiter, waiter.token == token else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                expired?.resume(throwing: V3WireTimeout())
            }
        }
    }
}

/// Decodes each frame into the inbox; the end of the connection closes it.
private final class V3WireHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = V3Frame

    private let inbox: V3WireInbox

    init(inbox: V3WireInbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.deliver(Result { try V3ServerMessage.decode(unwrapInboundIn(data), maxEnvelope: V3Frame.defaultMaxLength) })
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.close()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
