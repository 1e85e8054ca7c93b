import Adapters
@testable import Application
import Domain
import Testing

@Suite("ListClients and LookUpPublicKey")
struct DirectoryUseCasesTests {
    @Test("the list holds every other client in registration order, without the requester")
    func listExcludesRequester() async throws {
        try await withServer { server in
            let names = ["carol", "alice", "dave", "bob"]
            var ids: [ClientID] = []
            for name in names { ids.append(try await server.register(name)) }
            let seenByDave = try await server.useCases.listClients(requester: ids[2])
            #expect(seenByDave.map(\.name.value) == ["carol", "alice", "bob"])
            #expect(seenByDave.map(\.id) == [ids[0], ids[1], ids[3]])
        }
    }

    @Test("a lone client gets an empty list")
    func aloneEmpty() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            #expect(try await server.useCases.listClients(requester: alice).isEmpty)
        }
    }

    @Test("an unregistered requester gets no list")
    func listByStranger() async throws {
        try await withServer { server in
            try await server.register("alice")
            let stranger = ClientID(high: 1, low: 9)
            await #expect(throws: DomainError.unknownClient(stranger)) {
                try await server.useCases.listClients(requester: stranger)
            }
        }
    }

    @Test("a public key is the target's, whoever of the registered asks, the target included")
    func lookUp() async throws {
        try await withServer { server in
            let alice = try await server.register("alice", key: 1)
            let bob = try await server.register("bob", key: 2)
            #expect(try await server.useCases.lookUpPublicKey(requester: alice, target: bob).publicKey == samplePublicKey(2))
            // The original client's quirk (§3.4): the target's own id in the header.
            let quirk = try await server.useCases.lookUpPublicKey(requester: bob, target: bob)
            #expect(quirk.id == bob && quirk.publicKey == samplePublicKey(2))
        }
    }

    @Test("an unknown target, or an unknown requester, is refused with unknownClient naming that id")
    func lookUpUnknown() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let stranger = ClientID(high: 7, low: 7)
            await #expect(throws: DomainError.unknownClient(stranger)) {
                try await server.useCases.lookUpPublicKey(requester: alice, target: stranger)
            }
            await #expect(throws: DomainError.unknownClient(stranger)) {
                try await server.useCases.lookUpPublicKey(requester: stranger, target: alice)
            }
        }
    }
}
