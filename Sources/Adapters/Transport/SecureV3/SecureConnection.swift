import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SealpostWire
import Synchronization

/// How the client decides that it talks to the right server (docs/protocol-v3.md §1).
public enum ServerVerification: Sendable {
    /// The server's fingerprint must be this one.
    case pinned(ServerFingerprint)
    /// The certificate must chain to a CA in `caFile` (PEM), or to the system's trust store
    /// when nil, and name the host (or its IP address).
    case certificateAuthority(caFile: String?)
    /// Trust on first use: the first fingerprint seen for `host:port` is recorded in
    /// `knownServers`; a later one must equal it.
    case trustOnFirstUse(KnownServers)
}

/// Why a secure connection was refused or failed.
public enum SecureConnectionError: Error, Sendable, CustomStringConvertible {
    /// The server's key is not the one expected: pinned, or recorded on first use (`knownServers`).
    case fingerprintMismatch(server: String, expected: ServerFingerprint, seen: ServerFingerprint, knownServers: String?)
    /// The TLS handshake failed (a certificate that does not chain or name the host, a refused version).
    case handshakeFailed(server: String, reason: String)
    /// The server did not select ALPN `sealpost/3`.
    case wrongApplicationProtocol(server: String, selected: String?)
    /// The connection ended, or the server sent something else, before HELLO.
    case noHello(server: String, reason: String)

    public var description: String {
        switch self {
        case .fingerprintMismatch(let server, let expected, let seen, let knownServers):
            let source = knownServers.map { "recorded for it in \($0)" } ?? "pinned"
            let repin = knownServers != nil
                ? "If you know the server's key was changed, check the new fingerprint with the server's operator (`sealpost server-fingerprint` on the server), then run `sealpost forget-server \(server)` to record the new key on the next connection, or pass --server-fingerprint \(seen.hex)."
                : "If you know the server's key was changed, check the new fingerprint with the server's operator (`sealpost server-fingerprint` on the server) and pin it with --server-fingerprint."
            return """
                WARNING: the server at \(server) is not the one expected: a server may be impersonating it. \
                Expected fingerprint \(expected.hex) (\(source)), seen \(seen.hex). Nothing was sent. \(repin)
                """
        case .handshakeFailed(let server, let reason):
            return "TLS with \(server) failed: \(reason)"
        case .wrongApplicationProtocol(let server, let selected):
            return "\(server) did not select ALPN \(SecureServer.applicationProtocol) (selected: \(selected ?? "none"))"
        case .noHello(let server, let reason):
            return "\(server) sent no HELLO: \(reason)"
        }
    }
}

/// The client's side of the secure channel: TLS 1.3, ALPN `sealpost/3`, the server verified
/// as the `ServerVerification` says, then HELLO read.
public enum SecureConnection {
    /// Connects to `host:port`, verifies the server, reads HELLO and runs `body` with the
    /// session; the connection is closed (close_notify first) when `body` returns or throws.
    ///
    /// - Parameters:
    ///   - maxFrameBytes: the largest frame this client accepts from the server.
    ///   - helloTimeout: how long the TLS handshake and HELLO may take once TCP is connected.
    public static func withConnection<Result: Sendable>(
        host: String, port: Int, verification: ServerVerification,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxFrameBytes: UInt32 = V3Frame.defaultMaxLength, connectTimeout: TimeAmount = .seconds(10),
        helloTimeout: TimeAmount = .seconds(10),
        _ body: (SecureClientSession) async throws -> Result
    ) async throws -> Result {
        let server = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var expected: ServerFingerprint?
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.applicationProtocols = [SecureServer.applicationProtocol]
        var knownServers: KnownServers?
        switch verification {
        case .pinned(let fingerprint):
            expected = fingerprint
            // The callback below decides; it is only called when verification is on. No CA
            // is consulted, so none is loaded.
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates([])
        case .trustOnFirstUse(let known):
            knownServers = known
            expected = try await known.fingerprint(for: server)
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates([])
        case .certificateAuthority(let caFile):
            tls.certificateVerification = .fullVerification
            tls.trustRoots = caFile.map { .file($0) } ?? .default
        }
        let context = try NIOSSLContext(configuration: tls)
        let handshake = HandshakeRecord()
        let usesCallback: Bool = if case .certificateAuthority = verification { false } else { true }
        let knownPath = knownServers?.path
        let expectedFingerprint = expected
        // An IP address is not sent as SNI; NIOSSL then checks the certificate's IP names.
        let hostname: String? = Self.isIPAddress(host) ? nil : host
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tlsHandler: NIOSSLClientHandler
                    if usesCallback {
                        tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: hostname) { certificates, promise in
                            promise.succeed(handshake.verify(certificates, server: server, expected: expectedFingerprint, knownServers: knownPath))
                        }
                    } else {
                        tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: hostname)
                    }
                    try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeCheck(record: handshake, server: server))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(V3FrameDecoder(maxLength: maxFrameBytes)))
                    return try NIOAsyncChannel<V3Frame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let underlying = channel.channel
        let deadline = underlying.eventLoop.scheduleTask(in: helloTimeout) {
            handshake.refuse(.noHello(server: server, reason: "no TLS handshake and HELLO within \(helloTimeout.nanoseconds / 1_000_000) ms"))
            underlying.close(promise: nil)
        }
        return try await channel.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            let first: V3Frame?
            do {
                first = try await frames.next()
            } catch {
                deadline.cancel()
                throw handshake.failure(server: server, error)
            }
            deadline.cancel()
            guard let first else {
                throw handshake.failure(server: server, nil)
            }
            guard case .hello(let hello) = try V3ServerMessage.decode(first, maxEnvelope: 0) else {
                throw SecureConnectionError.noHello(server: server, reason: "the first frame is of type 0x\(String(first.type, radix: 16))")
            }
            guard let leaf = handshake.leaf else {
                throw SecureConnectionError.noHello(server: server, reason: "no server certificate")
            }
            let fingerprint = try ServerFingerprint(of: leaf)
            var firstUse = false
            if let knownServers, expected == nil {
                try await knownServers.record(fingerprint, for: server)
                firstUse = true
            }
            let session = SecureClientSession(
                hello: hello, fingerprint: fingerprint, certificateHash: try ServerFingerprint.certificateHash(of: leaf),
                recordedFirstUse: firstUse, frames: frames, outbound: outbound, channel: underlying)
            return try await body(session)
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// One open secure session, after HELLO. Not shared between tasks.
public final class SecureClientSession {
    public let hello: V3Hello
    /// The fingerprint of the server's key, as verified.
    public let fingerprint: ServerFingerprint
    /// `certHash`: SHA-256 of the certificate this client received (the channel binding).
    public let certificateHash: [UInt8]
    /// True when trust on first use recorded the server's fingerprint on this connection.
    public let recordedFirstUse: Bool
    private var frames: NIOAsyncChannelInboundStream<V3Frame>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel

    init(hello: V3Hello, fingerprint: ServerFingerprint, certificateHash: [UInt8], recordedFirstUse: Bool,
         frames: NIOAsyncChannelInboundStream<V3Frame>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
         channel: any Channel) {
        self.hello = hello
        self.fingerprint = fingerprint
        self.certificateHash = certificateHash
        self.recordedFirstUse = recordedFirstUse
        self.frames = frames
        self.outbound = outbound
        self.channel = channel
    }

    /// The writer, for a session whose frames are written from other tasks than the one that
    /// reads (`SecureAccountConnection`). It is safe to use from several tasks at once.
    var writer: NIOAsyncChannelOutboundWriter<ByteBuffer> { outbound }

    /// Closes the connection (close_notify first) from any task; the reader then sees its end.
    var closer: @Sendable () -> Void {
        let channel = channel
        return { channel.close(promise: nil) }
    }

    /// Sends one request.
    public func send(_ request: V3Request, requestID: UInt32) async throws {
        var buffer = ByteBuffer()
        request.write(requestID: requestID, into: &buffer)
        try await outbound.write(buffer)
    }

    /// Sends bytes as they are (a frame built by hand).
    public func send(raw bytes: ByteBuffer) async throws {
        try await outbound.write(bytes)
    }

    /// The next frame from the server, decoded; nil once the server has closed the session.
    public func next() async throws -> V3ServerMessage? {
        guard let frame = try await frames.next() else { return nil }
        return try V3ServerMessage.decode(frame, maxEnvelope: hello.maxEnvelopeBytes)
    }
}

/// What the handshake showed, shared between the TLS callbacks (on the event loop) and the
/// task that connects.
private final class HandshakeRecord: Sendable {
    private struct State {
        var leaf: NIOSSLCertificate?
        var refusal: SecureConnectionError?
    }

    private let state = Mutex(State())

    var leaf: NIOSSLCertificate? { state.withLock { $0.leaf } }

    /// The fingerprint check: pinned, or trust on first use.
    func verify(_ certificates: [NIOSSLCertificate], server: String, expected: ServerFingerprint?, knownServers: String?) -> NIOSSLVerificationResult {
        guard let leaf = certificates.first, let seen = try? ServerFingerprint(of: leaf) else { return .failed }
        if let expected, expected != seen {
            state.withLock {
                $0.refusal = .fingerprintMismatch(server: server, expected: expected, seen: seen, knownServers: knownServers)
            }
            return .failed
        }
        return .certificateVerified
    }

    func completed(leaf: NIOSSLCertificate?) {
        state.withLock { $0.leaf = leaf }
    }

    func refuse(_ error: SecureConnectionError) {
        state.withLock { if $0.refusal == nil { $0.refusal = error } }
    }

    /// The error to report for a connection that ended before HELLO.
    func failure(server: String, _ error: (any Error)?) -> any Error {
        if let refusal = state.withLock({ $0.refusal }) { return refusal }
        if let known = error as? SecureConnectionError { return known }
        if let error = error as? NIOSSLError, case .handshakeFailed(.sslError(let errors)) = error, errors == [.eofDuringHandshake] {
            // The server went away mid-handshake: nothing was verified, or refused.
            return SecureConnectionError.noHello(server: server, reason: "the connection ended during the TLS handshake")
        }
        if let error, error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return SecureConnectionError.handshakeFailed(server: server, reason: "\(error)")
        }
        if let error { return error }
        return SecureConnectionError.noHello(server: server, reason: "the server closed the connection")
    }
}

/// Checks ALPN when the handshake completes and keeps the server's certificate.
private final class HandshakeCheck: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let record: HandshakeRecord
    private let server: String

    init(record: HandshakeRecord, server: String) {
        self.record = record
        self.server = server
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let selected) = event {
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            record.completed(leaf: tls?.peerCertificate)
            guard selected == SecureServer.applicationProtocol else {
                let error = SecureConnectionError.wrongApplicationProtocol(server: server, selected: selected)
                record.refuse(error)
                context.fireErrorCaught(error)
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
