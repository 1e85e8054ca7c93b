/// Why a request to the v3 server failed (docs/protocol-v3.md). Every case reads as one line
/// a user can act on.
public enum AccountServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server answered ERROR: its code, how long to wait before retrying (nil when it
    /// named no time), and its message (English, for people; never parsed).
    case refused(AccountServerErrorCode, retryAfter: Duration?, message: String)
    /// Refused here, before anything was sent (an envelope over the server's limit, too many
    /// prekeys in one upload, a page limit outside 1...100).
    case invalidRequest(String)
    /// The server could not be reached, or ended the connection before HELLO.
    case cannotConnect(server: String, reason: String)
    /// The server's key is not the one expected, or its certificate does not verify, or it
    /// does not speak `sealpost/3`. Never retried.
    case untrustedServer(server: String, reason: String)
    /// The session ended before the answer came.
    case connectionLost(server: String, reason: String)
    /// The server broke the protocol; the session was ended.
    case protocolViolation(server: String, reason: String)
    /// An answer that is well formed but does not check out (a signature that does not
    /// verify, another account than the one asked for).
    case invalidAnswer(request: String, reason: String)
    /// The connection was closed by this client.
    case closed

    /// The server's code, for `.refused`.
    public var code: AccountServerErrorCode? {
        if case .refused(let code, _, _) = self { return code }
        return nil
    }

    /// Whether trying again later may succeed: a lost or refused connection, or the codes
    /// that say to retry (`rateLimited`, `inboxFull`, `unavailable`).
    public var isRetryable: Bool {
        switch self {
        case .refused(let code, _, _): [.rateLimited, .inboxFull, .unavailable].contains(code)
        case .cannotConnect, .connectionLost: true
        case .invalidRequest, .untrustedServer, .protocolViolation, .invalidAnswer, .closed: false
        }
    }

    public var description: String {
        switch self {
        case .refused(let code, let retryAfter, let message):
            var text = code.description
            if let retryAfter { text += ", retry in \(Self.seconds(retryAfter))" }
            if !message.isEmpty { text += " (server: \(message))" }
            return text
        case .invalidRequest(let why): return why
        case .cannotConnect(let server, let reason): return "cannot connect to \(server): \(reason)"
        case .untrustedServer(_, let reason): return reason
        case .connectionLost(let server, let reason): return "the connection to \(server) was lost: \(reason)"
        case .protocolViolation(let server, let reason): return "\(server) broke protocol v3 (\(reason)); the session was ended"
        case .invalidAnswer(let request, let reason): return "the server's answer to \(request) does not check out: \(reason)"
        case .closed: return "the connection is closed"
        }
    }

    /// "3 s", "0.25 s": whole seconds when they are whole.
    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
        let fraction = String(milliseconds % 1000 + 1000).dropFirst()
        var text = "\(milliseconds / 1000).\(fraction)"
        while text.hasSuffix("0") { text.removeLast() }
        return text + " s"
    }
}
