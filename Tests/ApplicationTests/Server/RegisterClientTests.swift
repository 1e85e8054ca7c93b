import Adapters
@testable import Application
import Domain
import Testing

@Suite("RegisterClient")
struct RegisterClientTests {
    @Test("a new name gets a fresh non-zero id, stored with its name and key")
    func registers() async throws {
        try await withServer { server in
            let id = try await server.register("alice", key: 7)
            #expect(!id.isZero)
            let stored = server.directory.client(withID: id)
            #expect(stored == RegisteredClient(id: id, name: try ClientName("alice"), publicKey: samplePublicKey(7)))
        }
    }

    @Test("a name in use is refused with nameTaken, and nothing is added")
    func duplicateName() async throws {
        try await withServer { server in
            let first = try await server.register("alice", key: 1)
            await #expect(throws: DomainError.nameTaken(try ClientName("alice"))) {
                try await server.register("alice", key: 2)
            }
            #expect(server.directory.allClients().map(\.id) == [first])
            #expect(server.directory.client(withID: first)?.publicKey == samplePublicKey(1))
        }
    }

    @Test("names differing only in case are different names, as in the original")
    func caseMatters() async throws {
        try await withServer { server in
            let lower = try await server.register("alice")
            let upper = try await server.register("Alice")
            #expect(lower != upper)
            #expect(server.directory.allClients().count == 2)
        }
    }

    @Test("the all-zero id (the register header's) is never handed out: another is drawn")
    func zeroIDSkipped() async throws {
        let good = ClientID(high: 5, low: 6)
        let ids = ScriptedIDs([.zero, good])
        try await withServer(newID: ids.draw) { server in
            let id = try await server.register("alice")
            #expect(id == good)
            #expect(server.directory.client(withID: .zero) == nil)
        }
    }

    @Test("an id already taken is drawn again; the first holder keeps it")
    func duplicateIDRedrawn() async throws {
        let taken = ClientID(high: 1, low: 1)
        let fresh = ClientID(high: 2, low: 2)
        let ids = ScriptedIDs([taken, taken, taken, fresh])
        try await withServer(newID: ids.draw) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            #expect(alice == taken && bob == fresh)
            #expect(server.directory.client(withID: taken)?.name.value == "alice")
            #expect(ids.remaining == 0)
        }
    }

    @Test("after eight unusable draws the store is reported unavailable")
    func givesUp() async throws {
        let taken = ClientID(high: 1, low: 1)
        let ids = ScriptedIDs([taken] + Array(repeating: taken, count: 7) + [.zero] + [ClientID(high: 9, low: 9)])
        try await withServer(newID: ids.draw) { server in
            try await server.register("alice")
            await #expect(throws: StoreError.unavailable("could not draw an unused client id")) {
                try await server.register("bob")
            }
            // Eight draws were made for bob, and no more.
            #expect(ids.remaining == 1)
            #expect(server.directory.allClients().count == 1)
        }
    }

    @Test("the default source draws distinct, non-zero ids")
    func randomIDs() {
        let ids = (0..<64).map { _ in RegisterClient.randomID() }
        #expect(Set(ids).count == 64)
        #expect(!ids.contains(.zero))
    }

    @Test("registering does not count as being seen: no client id is in the header yet")
    func registerRecordsNoSighting() async throws {
        try await withServer { server in
            let id = try await server.register("alice")
            #expect(server.directory.lastSeen(id) == nil)
        }
    }
}
