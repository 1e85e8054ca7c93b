import Domain

/// Why a client operation failed. Every case reads as one line a user can act on.
public enum ClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server answered 9000 to `request` (e.g. "register", "send message").
    case server(request: String)
    /// The server could not be reached, or the connection broke, during `request`.
    case transport(request: String, reason: String)
    /// The server could not be reached at all (`reason` in words, e.g. "connection refused").
    case cannotConnect(host: String, port: Int, reason: String)
    /// The reply to `request` does not follow the protocol.
    case malformedReply(request: String, reason: String)
    /// The reply to `request` declares more bytes than the configured limit.
    case replyTooLarge(request: String, size: UInt64, limit: UInt64)
    /// This home has no identity yet.
    case notRegistered
    /// This home already holds an identity.
    case alreadyRegistered(name: String, id: ClientID)
    /// No client of that name is known to the server.
    case unknownClient(name: String)
    /// The client's own name was given where another client is meant.
    case isSelf
    /// No symmetric key is shared with that contact yet.
    case noPairKey(String)
    /// A message could not be read (bad ciphertext, wrong key, unknown type...).
    case unreadableMessage(String)
    /// A local file could not be read or written.
    case localFile(path: String, reason: String)
    /// The local state (me.info, the client database) could not be used.
    case localState(String)
    /// A crypto operation failed.
    case crypto(CryptoError)
    /// An argument is invalid.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .server(let request): "the server refused the \(request) request (error 9000)"
        case .transport(let request, let reason): "\(request): \(reason)"
        case .cannotConnect(let host, let port, let reason): "cannot connect to \(host):\(port): \(reason)"
        case .malformedReply(let request, let reason): "malformed reply to the \(request) request: \(reason)"
        case .replyTooLarge(let request, let size, let limit):
            "the reply to the \(request) request declares \(size) bytes, more than the limit of \(limit)"
        case .notRegistered: "not registered yet: run `sealpost register NAME` first"
        case .alreadyRegistered(let name, let id): "already registered as \(name) (\(id))"
        case .unknownClient(let name): "no client named \"\(name)\" is registered on the server"
        case .isSelf: "that is this client's own name"
        case .noPairKey(let who): "no symmetric key is shared with \(who) yet"
        case .unreadableMessage(let why): why
        case .localFile(let path, let reason): "\(path): \(reason)"
        case .localState(let why): why
        case .crypto(let error): error.description
        case .invalidArgument(let why): why
        }
    }
}
