import Adapters
import Application
import Domain
import Foundation
import Logging

/// A real server on a real socket (port 0, the real port read back), over given stores.
struct TestServer: Sendable {
    let server: SeedServer
    let stores: TestStores
    let useCases: ServerUseCases

    var port: Int { server.localAddress.port! }

    /// Starts a server over `stores`, runs `body`, then shuts the server down.
    static func with<T: Sendable>(
        _ stores: TestStores,
        limits: ServerLimits = ServerLimits(),
        configuration: SeedServerConfiguration = SeedServerConfiguration(host: "127.0.0.1", port: 0, idleTimeoutSeconds: 60),
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "test-server")
        logger.logLevel = .critical
        let useCases = ServerUseCases(directory: stores.clients, store: stores.messages, limits: limits, clock: SystemWallClock())
        let server = try await SeedServer.bind(configuration: configuration, useCases: useCases, logger: logger)
        let running = Task { try await server.run() }
        let test = TestServer(server: server, stores: stores, useCases: useCases)
        do {
            let result = try await body(test)
            server.close()
            try await running.value
            return result
        } catch {
            server.close()
            _ = try? await running.value
            throw error
        }
    }

    /// Starts a server over fresh stores of `kind`, runs `body`, then shuts the server down
    /// and closes the stores before returning, however `body` ends.
    static func with<T: Sendable>(
        _ kind: StoreKind,
        limits: ServerLimits = ServerLimits(),
        configuration: SeedServerConfiguration = SeedServerConfiguration(host: "127.0.0.1", port: 0, idleTimeoutSeconds: 60),
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        try await TestStores.with(kind) { stores in
            try await with(stores, limits: limits, configuration: configuration, body)
        }
    }

    /// Sends one request and parses the reply.
    func request(_ bytes: [UInt8]) async throws -> Reply {
        try Reply(try await RawClient.exchange(bytes, port: port))
    }

    /// Registers `name` and returns its id.
    func register(_ name: String) async throws -> ClientID {
        let reply = try await request(Requests.register(name))
        guard reply.code == 1000, let id = reply.clientID else { throw TestSetupError("register \(name): code \(reply.code)") }
        return id
    }
}
