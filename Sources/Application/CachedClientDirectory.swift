import Domain
import Synchronization

/// Remembers clients once seen, in front of another directory.
///
/// Sound because clients are never removed and never change: a positive answer stays
/// true. Unknown ids always go to the store, so a client registered through another
/// server process is found.
public final class CachedClientDirectory: ClientDirectory {
    private let base: any ClientDirectory
    private let known = Mutex<[ClientID: RegisteredClient]>([:])

    public init(_ base: any ClientDirectory) {
        self.base = base
    }

    public func register(_ client: RegisteredClient) async throws {
        try await base.register(client)
        known.withLock { $0[client.id] = client }
    }

    public func client(withID id: ClientID) async throws -> RegisteredClient? {
        if let hit = known.withLock({ $0[id] }) { return hit }
        guard let found = try await base.client(withID: id) else { return nil }
        known.withLock { $0[id] = found }
        return found
    }

    public func allClients() async throws -> [RegisteredClient] {
        try await base.allClients()
    }

    public func recordSeen(_ id: ClientID, at instant: Double) async {
        await base.recordSeen(id, at: instant)
    }
}
