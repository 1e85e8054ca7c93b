import Adapters
import Application
@testable import Bootstrap
import Foundation
import Testing

/// `SecureClient.connected()` in process, against the real server over real TLS: callers at
/// once share one opening of the session.
@Suite("Client: the v3 client's one session", .serialized, .timeLimit(.minutes(2)))
struct SecureClientSessionTests {
    @Test("two concurrent connected() calls get the same connection; the server authenticates one session")
    func concurrentCallersShareOneSession() async throws {
        try await MaliciousServerTests.with { setup in
            try await setup.register("alice")
            let client = try await SecureClient.open(home: setup.home("alice"), server: "127.0.0.1:\(setup.server.port)",
                                                     verification: .pinned(setup.server.fingerprint))
            // The registration's own connection is gone first.
            #expect(try await eventually { setup.server.server.openConnections == 0 })
            let before = setup.accounts.prekeyCounts.withLock { $0 }
            async let first = client.connected()
            async let second = client.connected()
            let (one, two) = try await (first, second)
            #expect(ObjectIdentifier(one as AnyObject) == ObjectIdentifier(two as AnyObject))
            #expect(setup.accounts.prekeyCounts.withLock { $0 } - before == 1, "one AUTH")
            #expect(setup.server.server.openConnections == 1)
            // The shared session works, and a later caller gets it too.
            try await one.ping()
            let third = try await client.connected()
            #expect(ObjectIdentifier(third as AnyObject) == ObjectIdentifier(one as AnyObject))
            await client.close()
            #expect(try await eventually { setup.server.server.openConnections == 0 })
        }
    }
}
