import Adapters
@testable import Application
import Domain
import Testing

@Suite("CachedClientDirectory")
struct CachedClientDirectoryTests {
    static func client(_ low: UInt64, _ name: String) throws -> RegisteredClient {
        RegisteredClient(id: ClientID(high: 0, low: low), name: try ClientName(name), publicKey: samplePublicKey(UInt8(low)))
    }

    @Test("a client found once is answered from the cache afterwards")
    func positiveCached() async throws {
        let base = CountingDirectory()
        let alice = try Self.client(1, "alice")
        try base.base.register(alice)
        let cached = CachedClientDirectory(base)
        #expect(try await cached.client(withID: alice.id) == alice)
        #expect(try await cached.client(withID: alice.id) == alice)
        #expect(base.count("client") == 1)
    }

    @Test("a client registered through the cache is known without asking the store")
    func registerFills() async throws {
        let base = CountingDirectory()
        let cached = CachedClientDirectory(base)
        let alice = try Self.client(1, "alice")
        try await cached.register(alice)
        #expect(try await cached.client(withID: alice.id) == alice)
        #expect(base.count("register") == 1 && base.count("client") == 0)
    }

    @Test("unknown ids always go to the store, so a client registered elsewhere is found")
    func negativeNotCached() async throws {
        let base = CountingDirectory()
        let cached = CachedClientDirectory(base)
        let bob = try Self.client(2, "bob")
        #expect(try await cached.client(withID: bob.id) == nil)
        // Another server process registers bob in the shared store.
        try base.base.register(bob)
        #expect(try await cached.client(withID: bob.id) == bob)
        #expect(base.count("client") == 2)
    }

    @Test("a failed registration is not cached")
    func failedRegisterNotCached() async throws {
        let base = CountingDirectory()
        let cached = CachedClientDirectory(base)
        try await cached.register(try Self.client(1, "alice"))
        let impostor = try Self.client(2, "alice")
        await #expect(throws: DomainError.nameTaken(try ClientName("alice"))) { try await cached.register(impostor) }
        #expect(try await cached.client(withID: impostor.id) == nil)
    }

    @Test("the list and sightings go to the store every time")
    func passThrough() async throws {
        let base = CountingDirectory()
        let cached = CachedClientDirectory(base)
        let alice = try Self.client(1, "alice")
        try await cached.register(alice)
        try base.base.register(try Self.client(2, "bob"))
        #expect(try await cached.allClients().map(\.name.value) == ["alice", "bob"])
        #expect(try await cached.allClients().count == 2)
        await cached.recordSeen(alice.id, at: 42)
        #expect(base.count("allClients") == 2 && base.count("recordSeen") == 1)
        #expect(base.base.lastSeen(alice.id) == 42)
    }

    @Test("the server's use cases share one cache: a client is read from the store once")
    func useCasesShareCache() async throws {
        let base = CountingDirectory()
        let store = InMemoryMessageStore()
        let useCases = ServerUseCases(directory: base, store: store, limits: ServerLimits(), clock: ManualClock())
        let alice = try Self.client(1, "alice")
        try base.base.register(alice)
        _ = try await useCases.listClients(requester: alice.id)
        _ = try await useCases.lookUpPublicKey(requester: alice.id, target: alice.id)
        var sink = CollectingSink()
        try await useCases.deliver(for: alice.id, budget: ServerFixture.pullBudget, into: &sink)
        #expect(base.count("client") == 1)
        await store.shutdown()
    }
}
