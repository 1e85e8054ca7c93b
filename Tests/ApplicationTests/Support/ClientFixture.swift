import Adapters
@testable import Application
import Domain

/// One client's ports: its own identity, state and files, a shared in-process server, and
/// the real legacy crypto (so that what one client encrypts another must open).
struct TestClient {
    let identity = InMemoryIdentityStore()
    let state = InMemoryClientStateStore()
    let files = InMemoryFiles()
    let server: InProcessSeedServer
    let crypto = OpenSSLLegacyCrypto()

    init(_ server: InProcessSeedServer) {
        self.server = server
    }

    var services: ClientServices {
        ClientServices(identity: identity, state: state, server: server, crypto: crypto, files: files)
    }

    /// Registers `name` through the client use case.
    @discardableResult
    func register(_ name: String) async throws -> ClientIdentity {
        try await RegisterIdentity(services).run(name: name)
    }

    /// This client's saved identity.
    var me: ClientIdentity {
        get throws {
            guard let me = identity.load() else { throw ClientError.notRegistered }
            return me
        }
    }

    func inbox(autoReply: Bool = true) async throws -> InboxResult {
        try await ReadInbox(services).run(autoReply: autoReply)
    }
}

/// A server and two registered clients, alice and bob, each with a clean request log.
func withPair<T>(_ body: (_ alice: TestClient, _ bob: TestClient, _ server: InProcessSeedServer) async throws -> T) async throws -> T {
    try await withServer { fixture in
        let server = InProcessSeedServer(fixture)
        let alice = TestClient(server)
        let bob = TestClient(server)
        try await alice.register("alice")
        try await bob.register("bob")
        server.clearLog()
        return try await body(alice, bob, server)
    }
}
