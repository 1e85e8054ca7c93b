/// Why a v3 account value or request is refused. Each case has a code on the wire
/// (docs/protocol-v3.md §3.3), mapped in one place by the v3 codec.
public enum AccountError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case invalidKey(String)

    public var description: String {
        switch self {
        case .invalidName(let why): "invalid account name: \(why)"
        case .invalidKey(let why): "invalid key: \(why)"
        }
    }
}
