/// Why the system refuses something. Every case carries text an operator can act on.
///
/// The transport maps all of these to the protocol's one failure reply (9000) in one place.
public enum DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case invalidPublicKey(String)
    case invalidMessage(String)
    case nameTaken(ClientName)
    case unknownClient(ClientID)
    case unknownRecipient(ClientID)
    case payloadTooLarge(declared: UInt64, limit: UInt64)

    public var description: String {
        switch self {
        case .invalidName(let why): "invalid name: \(why)"
        case .invalidPublicKey(let why): "invalid public key: \(why)"
        case .invalidMessage(let why): "invalid message: \(why)"
        case .nameTaken(let name): "the name \"\(name)\" is already registered"
        case .unknownClient(let id): "no registered client has id \(id)"
        case .unknownRecipient(let id): "the recipient \(id) is not registered"
        case .payloadTooLarge(let declared, let limit): "payload of \(declared) bytes exceeds the limit of \(limit)"
        }
    }
}
