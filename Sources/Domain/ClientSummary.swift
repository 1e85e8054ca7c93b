/// A registered client as the list reply (1001) names it.
public struct ClientSummary: Hashable, Sendable {
    /// The client's id.
    public let id: ClientID
    /// The client's registered name.
    public let name: ClientName

    /// Builds a summary.
    public init(id: ClientID, name: ClientName) {
        self.id = id
        self.name = name
    }
}
