import Domain
import NIOCore
import SealpostWire

/// What a secure session asks its connection to do.
public enum SecureSessionAction: Hashable, Sendable {
    /// Write this frame.
    case send(V3ServerMessage)
    /// Run REGISTER or AUTHENTICATE (`request`), then report with `authenticated(...)` or
    /// `authenticationRefused(...)`.
    case authenticate(requestID: UInt32, V3Request)
    /// Run `request` as `account`, then report with `completed(...)`.
    case dispatch(requestID: UInt32, V3Request, account: AccountID)
    /// Start pushing `account`'s deliveries on this session.
    case startDelivery(AccountID)
    /// Flush what was written, then close the connection (TLS close_notify first).
    case close
}

/// Every decision of one protocol v3 session, as a pure state machine over frames
/// (docs/protocol-v3.md §3): no sockets, no clocks, no storage; unit-testable. The channel
/// handler feeds it events, carries out the actions it returns, and reports back the outcome
/// of the requests it ran.
public struct SecureSessionStateMachine: Sendable {
    public enum State: Hashable, Sendable {
        /// TLS is up (or coming up); HELLO not sent yet.
        case awaitingHandshake
        /// HELLO sent; only REGISTER or AUTHENTICATE may follow.
        case unauthenticated
        /// A REGISTER or AUTHENTICATE is being checked.
        case authenticating(requestID: UInt32)
        /// The session acts as this account, and only as it.
        case authenticated(AccountID)
        /// A close was decided; nothing more is read or answered.
        case closed
    }

    public private(set) var state = State.awaitingHandshake
    private let hello: V3Hello
    /// Requests answered by neither RESULT nor ERROR yet (§3: at most `maxInFlight`).
    private var unanswered: Set<UInt32> = []

    /// - Parameter hello: the HELLO this session sends, its nonce fresh for this connection.
    public init(hello: V3Hello) {
        self.hello = hello
    }

    /// The account the session acts as, once authenticated.
    public var account: AccountID? {
        if case .authenticated(let account) = state { account } else { nil }
    }

    /// Requests waiting for their answer.
    public var unansweredCount: Int { unanswered.count }

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
        switch state {
        case .awaitingHandshake, .closed: return []
        case .unauthenticated, .authenticating, .authenticated: break
        }
        guard (0x01...0x3F).contains(frame.type) else {
            return protocolError(requestID: 0, "frame type 0x\(String(frame.type, radix: 16)) is not a request")
        }
        guard frame.requestID != 0 else { return protocolError(requestID: 0, "requestID 0") }
        guard !unanswered.contains(frame.requestID) else {
            return protocolError(requestID: frame.requestID, "requestID \(frame.requestID) is still waiting for its answer")
        }
        guard unanswered.count < Int(hello.maxInFlight) else {
            return protocolError(requestID: frame.requestID, "more than \(hello.maxInFlight) unanswered requests")
        }
        let request: V3Request?
        do {
            // The frame's own limit bounds an envelope here; SEND's use case refuses one over
            // maxEnvelopeBytes with `tooLarge`, and the session goes on (§5.9).
            request = try V3Request.decode(type: frame.type, body: frame.body, maxEnvelope: hello.maxFrameBytes)
        } catch {
            return protocolError(requestID: frame.requestID, "\(error)")
        }
        guard let request else {
            return [.send(.error(requestID: frame.requestID, V3Error(.unknownRequest, message: "unknown request type 0x\(String(frame.type, radix: 16))")))]
        }
        let isSignIn = request.type == .register || request.type == .authenticate
        switch state {
        case .unauthenticated where isSignIn:
            state = .authenticating(requestID: frame.requestID)
            unanswered.insert(frame.requestID)
            return [.authenticate(requestID: frame.requestID, request)]
        case .unauthenticated, .authenticating:
            // One sign-in at a time; nothing else before it succeeded.
            let error = isSignIn
                ? V3Error(.notAuthenticated, message: "a REGISTER or AUTHENTICATE is already being checked")
                : V3Error(.notAuthenticated, message: "authenticate or register first")
            return [.send(.error(requestID: frame.requestID, error))]
        case .authenticated where isSignIn:
            return [.send(.error(requestID: frame.requestID, V3Error(.alreadyAuthenticated, message: "this session is authenticated already")))]
        case .authenticated(let account):
            if request == .ping {
                return [.send(.result(requestID: frame.requestID, body: V3Result.done.body()))]
            }
            unanswered.insert(frame.requestID)
            return [.dispatch(requestID: frame.requestID, request, account: account)]
        case .awaitingHandshake, .closed:
            return []
        }
    }

    /// The REGISTER or AUTHENTICATE `requestID` succeeded: the session is now `account`'s.
    ///
    /// - Parameter notices: frames that follow the RESULT (NOTICE `prekeysLow`).
    public mutating func authenticated(requestID: UInt32, as account: AccountID, result: V3Result, notices: [V3Notice] = []) -> [SecureSessionAction] {
        guard state == .authenticating(requestID: requestID) else { return [] }
        unanswered.remove(requestID)
        state = .authenticated(account)
        return [.send(.result(requestID: requestID, body: result.body()))] + notices.map { .send(.notice($0)) } + [.startDelivery(account)]
    }

    /// The REGISTER or AUTHENTICATE `requestID` was refused; the session may try again.
    public mutating func authenticationRefused(requestID: UInt32, _ error: V3Error) -> [SecureSessionAction] {
        guard state == .authenticating(requestID: requestID) else { return [] }
        unanswered.remove(requestID)
        state = .unauthenticated
        return [.send(.error(requestID: requestID, error))]
    }

    /// A dispatched request finished with its answer (a RESULT or an ERROR).
    public mutating func completed(requestID: UInt32, _ answer: V3ServerMessage) -> [SecureSessionAction] {
        guard case .authenticated = state, unanswered.remove(requestID) != nil else { return [] }
        return [.send(answer)]
    }

    /// The frame decoder refused the byte stream (a bad length, a cut frame).
    public mutating func streamFailed(_ error: any Error) -> [SecureSessionAction] {
        switch state {
        case .closed:
            return []
        case .awaitingHandshake:
            // Before HELLO nothing is framed yet; just close.
            state = .closed
            return [.close]
        case .unauthenticated, .authenticating, .authenticated:
            return protocolError(requestID: 0, "\(error)")
        }
    }

    /// `authTimeoutSeconds` passed since the connection was accepted.
    public mutating func authenticationTimedOut() -> [SecureSessionAction] {
        switch state {
        case .authenticated, .closed:
            return []
        case .awaitingHandshake, .unauthenticated, .authenticating:
            state = .closed
            return [.close]
        }
    }

    /// The session's push delivery failed (storage lost): the session ends so that the
    /// client reconnects and is served afresh.
    public mutating func deliveryFailed(_ reason: String) -> [SecureSessionAction] {
        guard state != .closed else { return [] }
        state = .closed
        return [.send(.error(requestID: 0, V3Error(.unavailable, message: reason))), .close]
    }

    private mutating func protocolError(requestID: UInt32, _ reason: String) -> [SecureSessionAction] {
        state = .closed
        return [.send(.error(requestID: requestID, V3Error(.malformed, message: reason))), .close]
    }
}
