/// The server's ERROR codes (docs/protocol-v3.md §3.3), as the client reads them. A code this
/// client does not know is kept as `.other`: a failure of that request all the same.
public enum AccountServerErrorCode: Hashable, Sendable, CustomStringConvertible {
    case malformed
    case unknownRequest
    case notAuthenticated
    case alreadyAuthenticated
    case authenticationFailed
    case nameTaken
    case invalidName
    case badSignature
    case noSuchAccount
    case tooLarge
    case rateLimited
    case inboxFull
    case tooManyPrekeys
    case directoryClosed
    case duplicatePrekey
    case unavailable
    case other(UInt16)

    private static let known: [AccountServerErrorCode] = [
        .malformed, .unknownRequest, .notAuthenticated, .alreadyAuthenticated, .authenticationFailed, .nameTaken,
        .invalidName, .badSignature, .noSuchAccount, .tooLarge, .rateLimited, .inboxFull, .tooManyPrekeys,
        .directoryClosed, .duplicatePrekey, .unavailable,
    ]

    /// The code on the wire.
    public init(rawValue: UInt16) {
        let index = Int(rawValue) - 1
        self = Self.known.indices.contains(index) ? Self.known[index] : .other(rawValue)
    }

    public var rawValue: UInt16 {
        if case .other(let code) = self { return code }
        return UInt16(Self.known.firstIndex(of: self)! + 1)
    }

    /// What the code means, in words for a person.
    public var description: String {
        switch self {
        case .malformed: "the server found the request malformed and closed the connection"
        case .unknownRequest: "the server does not know this request"
        case .notAuthenticated: "the session is not authenticated yet"
        case .alreadyAuthenticated: "the session is authenticated already"
        case .authenticationFailed: "authentication failed (unknown account or wrong key)"
        case .nameTaken: "the name is taken"
        case .invalidName: "the name is not allowed (2 to 64 bytes of UTF-8, no control characters, no space at either end)"
        case .badSignature: "a signature did not verify"
        case .noSuchAccount: "no such account"
        case .tooLarge: "too large for the server"
        case .rateLimited: "rate-limited"
        case .inboxFull: "the recipient's inbox is full"
        case .tooManyPrekeys: "the account would hold more than 100 one-time prekeys"
        case .directoryClosed: "the server's directory is not listable"
        case .duplicatePrekey: "a prekey id is already stored, or given twice"
        case .unavailable: "the server cannot serve the request now"
        case .other(let code): "the server refused the request (error \(code))"
        }
    }
}
