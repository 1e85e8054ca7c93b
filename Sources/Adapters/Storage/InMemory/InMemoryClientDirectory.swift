import Application
import Domain

/// Clients held in process memory: for tests and for throwaway servers.
public actor InMemoryClientDirectory: ClientDirectory {
    private var byID: [ClientID: RegisteredClient] = [:]
    private var names: Set<ClientName> = []
    private var order: [ClientID] = []
    private var lastSeen: [ClientID: Double] = [:]

    public init() {}

    public func register(_ client: RegisteredClient) throws {
        guard byID[client.id] == nil else { throw StoreError.duplicateID }
        guard !names.contains(client.name) else { throw DomainError.nameTaken(client.name) }
        byID[client.id] = client
        names.insert(client.name)
        order.append(client.id)
    }

    public func client(withID id: ClientID) -> RegisteredClient? {
        byID[id]
    }

    public func allClients() -> [RegisteredClient] {
        order.compactMap { byID[$0] }
    }

    public func recordSeen(_ id: ClientID, at instant: Double) {
        guard byID[id] != nil else { return }
        lastSeen[id] = instant
    }

    /// When `id` was last seen, for tests.
    public func lastSeen(_ id: ClientID) -> Double? {
        lastSeen[id]
    }
}
