import Application
import Domain
import Synchronization

/// Clients held in process memory: for tests and for throwaway servers.
///
/// A class behind one lock rather than an actor: every operation is a few dictionary
/// look-ups, so callers never suspend and never hop to another thread for them.
public final class InMemoryClientDirectory: ClientDirectory {
    private struct State {
        var byID: [ClientID: RegisteredClient] = [:]
        var names: Set<ClientName> = []
        var order: [ClientID] = []
        var lastSeen: [ClientID: Double] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func register(_ client: RegisteredClient) throws {
        try state.withLock { state in
            guard state.byID[client.id] == nil else { throw StoreError.duplicateID }
            guard !state.names.contains(client.name) else { throw DomainError.nameTaken(client.name) }
            state.byID[client.id] = client
            state.names.insert(client.name)
            state.order.append(client.id)
        }
    }

    public func client(withID id: ClientID) -> RegisteredClient? {
        state.withLock { $0.byID[id] }
    }

    public func allClients() -> [RegisteredClient] {
        state.withLock { state in state.order.compactMap { state.byID[$0] } }
    }

    public func recordSeen(_ id: ClientID, at instant: Double) {
        state.withLock { state in
            guard state.byID[id] != nil else { return }
            state.lastSeen[id] = instant
        }
    }

    /// When `id` was last seen, for tests.
    public func lastSeen(_ id: ClientID) -> Double? {
        state.withLock { $0.lastSeen[id] }
    }
}
