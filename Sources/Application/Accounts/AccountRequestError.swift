/// Why a v3 request was refused (docs/protocol-v3.md §3.3). The transport maps each case to its
/// error code; the text is for people.
public enum AccountRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case nameTaken
    /// A key signature or a registration proof that does not verify.
    case badSignature(String)
    case duplicatePrekey(UInt32)
    case tooManyPrekeys(held: Int, adding: Int, limit: Int)
    /// An unknown account or a wrong signature: deliberately not told apart.
    case authenticationFailed
    case noSuchAccount
    case tooLarge(String)
    case directoryClosed
    case rateLimited(retryAfterMilliseconds: UInt32, String)
    case inboxFull(retryAfterMilliseconds: UInt32, String)
    /// Storage failed; the request may be retried later.
    case unavailable(String)
    /// An attachment that does not exist, has expired, or is not the account's to touch.
    case noSuchAttachment
    /// An attachment write not at the stored offset.
    case wrongOffset(stored: UInt64)
    /// A read of an attachment whose upload has not finished.
    case attachmentIncomplete(stored: UInt64, size: UInt64)

    public var description: String {
        switch self {
        case .invalidName(let why): why
        case .nameTaken: "the name is taken"
        case .badSignature(let what): "\(what) does not verify"
        case .duplicatePrekey(let id): "prekey id \(id) is already stored, or given twice"
        case .tooManyPrekeys(let held, let adding, let limit): "\(held) one-time prekeys stored; \(adding) more would pass the limit of \(limit)"
        case .authenticationFailed: "authentication failed"
        case .noSuchAccount: "no such account"
        case .tooLarge(let why): why
        case .directoryClosed: "this server does not list its accounts"
        case .rateLimited(_, let why): why
        case .inboxFull(_, let why): why
        case .unavailable(let why): "the server cannot serve this now: \(why)"
        case .noSuchAttachment: "no such attachment"
        case .wrongOffset(let stored): "writes are sequential: the next one is at offset \(stored)"
        case .attachmentIncomplete(let stored, let size): "the attachment is not complete: \(stored) of \(size) bytes stored"
        }
    }
}
