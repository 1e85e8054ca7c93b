/// Why a reply could not be read. The codec's own errors: they name no request, the
/// client transport adds that when it reports them (Adapters maps them to `ClientError`).
public enum SeedReplyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server answered 9000.
    case failure
    /// The reply does not follow the protocol (`reason` in words; a reply cut short is
    /// one, its reason starting "truncated").
    case malformed(reason: String)
    /// The head declares more payload than `limit`.
    case tooLarge(size: UInt64, limit: UInt64)
    /// The connection failed while reading (`reason` in words).
    case connection(reason: String)

    public var description: String {
        switch self {
        case .failure: "the server answered 9000"
        case .malformed(let reason): "malformed reply: \(reason)"
        case .tooLarge(let size, let limit): "the reply declares \(size) bytes, more than the limit of \(limit)"
        case .connection(let reason): reason
        }
    }
}
