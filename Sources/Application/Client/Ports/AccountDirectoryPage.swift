import Domain

/// One page of the server's account directory (docs/protocol-v3.md §5.7), in byte-wise name
/// order. To read the next page, list after the last name of this one.
public struct AccountDirectoryPage: Hashable, Sendable {
    /// One listed account: its id and name (LIST carries no keys; LOOKUP or FETCH_BUNDLE does).
    public struct Entry: Hashable, Sendable {
        public let account: AccountID
        public let name: AccountName

        public init(account: AccountID, name: AccountName) {
            self.account = account
            self.name = name
        }
    }

    public let entries: [Entry]
    /// Whether names follow the last one listed.
    public let more: Bool

    public init(entries: [Entry], more: Bool) {
        self.entries = entries
        self.more = more
    }
}
