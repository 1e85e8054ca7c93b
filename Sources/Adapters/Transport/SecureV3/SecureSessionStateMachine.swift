import NIOCore
import SealpostWire

/// What a secure session asks its connection to do.
public enum SecureSessionAction: Hashable, Sendable {
    /// Write this frame.
    case send(V3ServerMessage)
    /// Flush what was written, then close the connection (TLS close_notify first).
    case close
}

/// Every decision of one protocol v3 session, as a pure state machine over frames
/// (docs/protocol-v3.md §3.1): no sockets, no clocks, unit-testable. The channel handler
/// feeds it events and carries out the actions it returns.
///
/// Authentication does not exist yet: every request is answered as it must be before
/// authentication. `unauthenticated(_:)` is the one place that decides that answer; the
/// accounts work replaces it with REGISTER and AUTHENTICATE.
public struct SecureSessionStateMachine: Sendable {
    public enum State: Hashable, Sendable {
        /// TLS is up (or coming up); HELLO not sent yet.
        case awaitingHandshake
        /// HELLO sent; only REGISTER or AUTHENTICATE may follow.
        case unauthenticated
        /// A close was decided; nothing more is read or answered.
        case closed
    }

    public private(set) var state = State.awaitingHandshake
    private let hello: V3Hello

    /// - Parameter hello: the HELLO this session sends, its nonce fresh for this connection.
    public init(hello: V3Hello) {
        self.hello = hello
    }

    /// The TLS handshake completed with `negotiatedProtocol` selected by ALPN.
    public mutating func handshakeCompleted(negotiatedProtocol: String?) -> [SecureSessionAction] {
        guard state == .awaitingHandshake else { return [] }
        guard negotiatedProtocol == SecureServer.applicationProtocol else {
            // §1: a handshake that did not select sealpost/3 is refused: no HELLO, no frames.
            state = .closed
            return [.close]
        }
        state = .unauthenticated
        return [.send(.hello(hello))]
    }

    /// A frame arrived from the client.
    public mutating func received(_ frame: V3Frame) -> [SecureSessionAction] {
        guard state == .unauthenticated else { return [] }
        guard (0x01...0x3F).contains(frame.type) else {
            return protocolError(requestID: 0, "frame type 0x\(String(frame.type, radix: 16)) is not a request")
        }
        guard frame.requestID != 0 else { return protocolError(requestID: 0, "requestID 0") }
        let request: V3Request?
        do {
            request = try V3Request.decode(type: frame.type, body: frame.body, maxEnvelope: hello.maxEnvelopeBytes)
        } catch {
            return protocolError(requestID: frame.requestID, "\(error)")
        }
        guard let request else {
            return [.send(.error(requestID: frame.requestID, V3Error(.unknownRequest, message: "unknown request type 0x\(String(frame.type, radix: 16))")))]
        }
        return [.send(.error(requestID: frame.requestID, Self.unauthenticated(request)))]
    }

    /// The frame decoder refused the byte stream (a bad length, a cut frame).
    public mutating func streamFailed(_ error: any Error) -> [SecureSessionAction] {
        guard state != .closed else { return [] }
        guard state == .unauthenticated else {
            // Before HELLO nothing is framed yet; just close.
            state = .closed
            return [.close]
        }
        return protocolError(requestID: 0, "\(error)")
    }

    /// `authTimeoutSeconds` passed since the connection was accepted.
    public mutating func authenticationTimedOut() -> [SecureSessionAction] {
        guard state != .closed else { return [] }
        state = .closed
        return [.close]
    }

    /// The answer to `request` on a session that has not authenticated (§3.1). The accounts
    /// work replaces this with the real REGISTER and AUTHENTICATE.
    static func unauthenticated(_ request: V3Request) -> V3Error {
        switch request.type {
        case .register, .authenticate:
            V3Error(.unavailable, message: "this server does not accept accounts yet")
        default:
            V3Error(.notAuthenticated, message: "authenticate or register first")
        }
    }

    private mutating func protocolError(requestID: UInt32, _ reason: String) -> [SecureSessionAction] {
        state = .closed
        return [.send(.error(requestID: requestID, V3Error(.malformed, message: reason))), .close]
    }
}
