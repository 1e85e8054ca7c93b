import Adapters
@testable import Application
import Domain
import Testing

@Suite("PullMessages")
struct PullMessagesTests {
    @Test("an unregistered requester is refused")
    func unknownRequester() async throws {
        try await withServer { server in
            let stranger = ClientID(high: 4, low: 4)
            await #expect(throws: DomainError.unknownClient(stranger)) {
                try await server.useCases.pull.begin(requester: stranger)
            }
        }
    }

    @Test("completed messages are gone; abandoned ones come back, oldest first")
    func completeAndAbandon() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            try await server.send(.text, [1], from: alice, to: bob)
            try await server.send(.text, [2], from: alice, to: bob)
            let pull = server.useCases.pull
            let failed = try await pull.begin(requester: bob)
            #expect(failed.messages.map(\.inlineContent) == [[1], [2]])
            // While claimed, another pull does not see them.
            #expect(try await pull.begin(requester: bob).messages.isEmpty)
            try await pull.keepClaimed(failed)
            await pull.abandon(failed)
            let again = try await pull.begin(requester: bob)
            #expect(again.messages.map(\.id) == failed.messages.map(\.id))
            try await pull.complete(again)
            #expect(try await pull.begin(requester: bob).messages.isEmpty)
            #expect(server.store.storedMessages == 0)
        }
    }

    @Test("an empty claim completes, renews and is abandoned without error")
    func emptyClaim() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let pull = server.useCases.pull
            let claim = try await pull.begin(requester: alice)
            #expect(claim.messages.isEmpty && claim.wireSize == 0)
            try await pull.keepClaimed(claim)
            try await pull.complete(claim)
            await pull.abandon(claim)
        }
    }
}
