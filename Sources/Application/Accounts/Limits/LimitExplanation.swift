/// Says a refusal to wait in words for the client's user (docs/protocol-v3.md §3.3):
/// "rate-limited: retry in 12 s", "the recipient's inbox is full: retry in 1 min".
public enum LimitExplanation {
    /// The words for error `code` (11 `rateLimited`, 12 `inboxFull`) with its
    /// `retryAfterMilliseconds`; `nil` for any other code.
    public static func text(code: UInt16, retryAfterMilliseconds: UInt32) -> String? {
        switch code {
        case 11: "rate-limited: retry in \(duration(milliseconds: retryAfterMilliseconds))"
        case 12: "the recipient's inbox is full: retry in \(duration(milliseconds: retryAfterMilliseconds))"
        default: nil
        }
    }

    /// The words for `error`, when it is a refusal to wait.
    public static func text(for error: AccountRequestError) -> String? {
        switch error {
        case .rateLimited(let after, _): text(code: 11, retryAfterMilliseconds: after)
        case .inboxFull(let after, _): text(code: 12, retryAfterMilliseconds: after)
        default: nil
        }
    }

    /// A wait as people say it, rounded up: "1 s", "12 s", "2 min", "1 h 5 min", "3 days";
    /// `UInt32.max` ms is "never (the request is over the limit)".
    public static func duration(milliseconds: UInt32) -> String {
        if milliseconds == .max { return "never (the request is larger than the limit)" }
        let seconds = (Int(milliseconds) + 999) / 1000
        switch seconds {
        case ..<1: return "1 s"
        case ..<60: return "\(seconds) s"
        case ..<3600:
            return "\((seconds + 59) / 60) min"
        case ..<86_400:
            let minutes = (seconds + 59) / 60
            return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
        default:
            let days = (seconds + 86_399) / 86_400
            return days == 1 ? "1 day" : "\(days) days"
        }
    }
}
