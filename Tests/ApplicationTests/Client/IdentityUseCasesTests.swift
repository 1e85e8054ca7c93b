import Adapters
@testable import Application
import Domain
import Testing

@Suite("Client: register, whoami, list, resolve, fetch a key")
struct IdentityUseCasesTests {
    @Test("register saves the id the server handed out, with a private key whose public half the server holds")
    func register() async throws {
        try await withServer { fixture in
            let client = TestClient(InProcessSeedServer(fixture))
            let identity = try await client.register("alice")
            #expect(client.identity.load() == identity)
            #expect(identity.name.value == "alice")
            let registered = try #require(fixture.directory.client(withID: identity.id))
            #expect(registered.name == identity.name)
            #expect(try client.crypto.publicKey(for: identity.privateKey) == registered.publicKey)
        }
    }

    @Test("a home that has an identity is not registered again, and the server is not asked")
    func alreadyRegistered() async throws {
        try await withServer { fixture in
            let server = InProcessSeedServer(fixture)
            let client = TestClient(server)
            let identity = try await client.register("alice")
            await #expect(throws: ClientError.alreadyRegistered(name: "alice", id: identity.id)) {
                try await client.register("other")
            }
            #expect(server.requests == [.register(name: try ClientName("alice"))])
        }
    }

    @Test("names the protocol or the original's me.info cannot hold are refused locally", arguments: ["a", "two words", "nul\u{0}byte", String(repeating: "x", count: 255)])
    func invalidNames(name: String) async throws {
        try await withServer { fixture in
            let server = InProcessSeedServer(fixture)
            let client = TestClient(server)
            do {
                try await client.register(name)
                Issue.record("\(name) was registered")
            } catch ClientError.invalidArgument(_) {
            } catch {
                Issue.record("not invalidArgument: \(error)")
            }
            #expect(server.requests.isEmpty)
            #expect(client.identity.load() == nil)
        }
    }

    @Test("a name the server refuses (taken) is a server error, and nothing is saved")
    func nameTaken() async throws {
        try await withServer { fixture in
            let server = InProcessSeedServer(fixture)
            try await TestClient(server).register("alice")
            let second = TestClient(server)
            await #expect(throws: ClientError.server(request: "register")) { try await second.register("alice") }
            #expect(second.identity.load() == nil)
        }
    }

    @Test("whoami needs an identity and asks no server")
    func whoAmI() async throws {
        try await withServer { fixture in
            let server = InProcessSeedServer(fixture)
            let client = TestClient(server)
            await #expect(throws: ClientError.notRegistered) { try await WhoAmI(client.services).run() }
            let identity = try await client.register("alice")
            server.clearLog()
            #expect(try await WhoAmI(client.services).run() == identity)
            #expect(server.requests.isEmpty)
        }
    }

    @Test("every command but register needs an identity first")
    func notRegistered() async throws {
        try await withServer { fixture in
            let server = InProcessSeedServer(fixture)
            let client = TestClient(server)
            let services = client.services
            await #expect(throws: ClientError.notRegistered) { try await ListOtherClients(services).run() }
            await #expect(throws: ClientError.notRegistered) { try await FetchPublicKey(services).run(name: "bob") }
            await #expect(throws: ClientError.notRegistered) { try await RequestKey(services).run(name: "bob") }
            await #expect(throws: ClientError.notRegistered) { try await SendKey(services).run(name: "bob") }
            await #expect(throws: ClientError.notRegistered) { try await SendText(services).run(name: "bob", text: "hi") }
            await #expect(throws: ClientError.notRegistered) { try await SendFile(services).run(name: "bob", path: "f") }
            await #expect(throws: ClientError.notRegistered) { try await client.inbox() }
            #expect(server.requests.isEmpty)
        }
    }

    @Test("list returns the others in registration order and remembers their names")
    func list() async throws {
        try await withPair { alice, bob, server in
            let carol = TestClient(server)
            try await carol.register("carol")
            let clients = try await ListOtherClients(alice.services).run()
            #expect(clients.map(\.name.value) == ["bob", "carol"])
            #expect(alice.state.contact(named: try ClientName("bob"))?.id == (try bob.me.id))
            #expect(alice.state.contact(withID: try carol.me.id)?.name?.value == "carol")
        }
    }

    @Test("a known contact is resolved locally; an unknown one through one fresh list")
    func resolve() async throws {
        try await withPair { alice, bob, server in
            let me = try alice.me
            let first = try await ResolveContact(alice.services).run(name: "bob", me: me)
            #expect(first.id == (try bob.me.id))
            #expect(server.requests == [.list(requester: me.id)])
            server.clearLog()
            #expect(try await ResolveContact(alice.services).run(name: "bob", me: me).id == first.id)
            #expect(server.requests.isEmpty)
        }
    }

    @Test("resolving: an unknown name, an invalid name, the own name")
    func resolveRefusals() async throws {
        try await withPair { alice, _, server in
            let me = try alice.me
            await #expect(throws: ClientError.unknownClient(name: "zoe")) { try await ResolveContact(alice.services).run(name: "zoe", me: me) }
            await #expect(throws: ClientError.unknownClient(name: "z")) { try await ResolveContact(alice.services).run(name: "z", me: me) }
            server.clearLog()
            await #expect(throws: ClientError.isSelf) { try await ResolveContact(alice.services).run(name: "alice", me: me) }
            #expect(server.requests.isEmpty)
        }
    }

    @Test("a fetched public key is stored; a stored one is used without asking again")
    func fetchKey() async throws {
        try await withPair { alice, bob, server in
            let bobID = try bob.me.id
            let fetched = try await FetchPublicKey(alice.services).run(name: "bob")
            #expect(fetched.contact.id == bobID)
            #expect(fetched.key == fixtureKey(of: bobID, in: server))
            #expect(alice.state.contact(withID: bobID)?.publicKey == fetched.key)
            server.clearLog()
            #expect(try await FetchPublicKey(alice.services).known(bobID, me: try alice.me) == fetched.key)
            #expect(server.requests.isEmpty)
        }
    }
}

/// The public key the server holds for `id`.
func fixtureKey(of id: ClientID, in server: InProcessSeedServer) -> PublicKey? {
    server.server.directory.client(withID: id)?.publicKey
}
