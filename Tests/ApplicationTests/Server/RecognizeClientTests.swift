import Adapters
@testable import Application
import Domain
import Testing

@Suite("RecognizeClient and the clock")
struct RecognizeClientTests {
    @Test("an unregistered id is refused with unknownClient and not recorded")
    func unknownRefused() async throws {
        try await withServer { server in
            let stranger = ClientID(high: 3, low: 4)
            await #expect(throws: DomainError.unknownClient(stranger)) { try await server.recognize(stranger) }
            await #expect(throws: DomainError.unknownClient(.zero)) { try await server.recognize(.zero) }
            #expect(server.directory.lastSeen(stranger) == nil)
        }
    }

    @Test("a registered id is returned with its client, and seen at the injected time")
    func recordsSeen() async throws {
        try await withServer { server in
            let id = try await server.register("alice", key: 4)
            let client = try await server.recognize(id)
            #expect(client.name.value == "alice" && client.publicKey == samplePublicKey(4))
            #expect(server.directory.lastSeen(id) == server.clock.now())
        }
    }

    @Test("each request moves last-seen to the clock's time then")
    func lastSeenFollowsClock() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let start = server.clock.now()
            _ = try await server.useCases.listClients(requester: alice)
            server.clock.advance(by: 90)
            _ = try await server.useCases.lookUpPublicKey(requester: bob, target: alice)
            #expect(server.directory.lastSeen(alice) == start)
            #expect(server.directory.lastSeen(bob) == start + 90)
            server.clock.advance(by: 10)
            _ = try await server.pullAll(alice)
            #expect(server.directory.lastSeen(alice) == start + 100)
            try await server.send(.text, [1], from: bob, to: alice)
            #expect(server.directory.lastSeen(bob) == start + 100)
        }
    }

    @Test("a refused request records no sighting")
    func refusedRecordsNothing() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let stranger = ClientID(high: 8, low: 8)
            await #expect(throws: DomainError.unknownRecipient(stranger)) {
                try await server.send(.text, [1], from: alice, to: stranger)
            }
            // The sender was recognized before the recipient was looked up.
            #expect(server.directory.lastSeen(alice) == server.clock.now())
            server.clock.advance(by: 5)
            await #expect(throws: DomainError.self) {
                try await server.useCases.send.admit(MessageHeader(sender: alice, recipient: alice, kind: .text, contentSize: .max))
            }
            // The size is checked first: alice was not seen again.
            #expect(server.directory.lastSeen(alice) == server.clock.now() - 5)
        }
    }

    @Test("the system clock reads seconds since 1970")
    func systemClock() {
        let now = SystemWallClock().now()
        // 2023-11-14 and 2100-01-01: a clock in milliseconds or from boot would fall outside.
        #expect(now > 1_700_000_000 && now < 4_102_444_800)
    }
}
