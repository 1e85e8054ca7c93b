import Domain

/// Where registered clients live. One aggregate: a client and its key.
///
/// Clients are never removed, so a positive answer may be cached.
public protocol ClientDirectory: Sendable {
    /// Adds `client`. Durable when it returns.
    ///
    /// - Throws: `DomainError.nameTaken` when another client has the same name;
    ///   `StoreError.duplicateID` when the id is already taken (the caller draws another).
    func register(_ client: RegisteredClient) async throws

    /// The client with `id`, or `nil` when there is none.
    func client(withID id: ClientID) async throws -> RegisteredClient?

    /// Every registered client, in registration order.
    func allClients() async throws -> [RegisteredClient]

    /// Notes that `id` made a request at `instant` (seconds since 1970).
    ///
    /// Informational only: an adapter may coalesce these and write them later; a lost
    /// update is not an error. Unknown ids are ignored.
    func recordSeen(_ id: ClientID, at instant: Double) async
}
