import Domain

/// Checks that a request comes from a registered client and notes that it was seen.
///
/// Every request but register goes through here: its header must carry a registered
/// client id (docs/protocol-v2.md §3.1).
public struct RecognizeClient: Sendable {
    let directory: any ClientDirectory
    let clock: any WallClock

    public init(directory: any ClientDirectory, clock: any WallClock) {
        self.directory = directory
        self.clock = clock
    }

    /// The registered client behind `id`, noted as seen at the clock's time.
    ///
    /// - Throws: `DomainError.unknownClient` when `id` is not registered.
    @discardableResult
    public func callAsFunction(_ id: ClientID) async throws -> RegisteredClient {
        guard let client = try await directory.client(withID: id) else {
            throw DomainError.unknownClient(id)
        }
        await directory.recordSeen(id, at: clock.now())
        return client
    }
}
