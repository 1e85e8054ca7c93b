import Adapters
import Application
import Foundation
import Logging

/// Every store the server can run on. Tests that take `StoreKind.allCases` run once per store.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case memory
    case sqlite
    case postgres

    var description: String { rawValue }

    /// The PostgreSQL server the tests use; `.ci/run` and `scripts/test` start one and set it.
    static var postgresURL: String? { ProcessInfo.processInfo.environment["SEALPOST_TEST_POSTGRES_URL"] }

    /// The stores to test here: PostgreSQL is skipped only outside CI when no server is given.
    static var available: [StoreKind] {
        allCases.filter { $0 != .postgres || postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil }
    }
}

/// A fresh, empty pair of stores of one kind, with a way to dispose of them.
struct TestStores: Sendable {
    let clients: any ClientDirectory
    let messages: any MessageStore
    let close: @Sendable () async -> Void
    /// Where the SQLite files live, for tests that look at the disk.
    let directory: URL?
    /// The PostgreSQL schema, for tests that start a server process on it.
    var schema: String? = nil
    /// Whether claims run out on their own (PostgreSQL's leases); the others hold until
    /// acknowledged or released.
    var claimsExpire = false
    /// How much the message store holds: stored messages plus content files, chunk rows
    /// and uploads in progress. Zero when everything was delivered or abandoned.
    var footprint: @Sendable () async throws -> Int = { 0 }

    static let logger = Logger(label: "test")

    /// - Parameter claimLease: PostgreSQL's lease (the others ignore it); `.zero` makes
    ///   every claim expire at once.
    static func make(_ kind: StoreKind, inlineLimit: UInt32 = 64 * 1024, claimLease: Duration = .seconds(600)) async throws -> TestStores {
        switch kind {
        case .memory:
            let messages = InMemoryMessageStore(inlineLimit: inlineLimit)
            return TestStores(
                clients: InMemoryClientDirectory(), messages: messages, close: { await messages.shutdown() }, directory: nil,
                footprint: { messages.storedMessages + messages.pendingUploads + (try await messages.spillFileCount()) })
        case .sqlite, .postgres:
            return try await makeDurable(kind, inlineLimit: inlineLimit, claimLease: claimLease)
        }
    }

    /// Runs `body` over fresh stores of `kind` and closes them before returning, however
    /// `body` ends: the next test never meets this one's stores still closing.
    static func with<T>(_ kind: StoreKind, inlineLimit: UInt32 = 64 * 1024, _ body: (TestStores) async throws -> T) async throws -> T {
        let stores = try await make(kind, inlineLimit: inlineLimit)
        do {
            let result = try await body(stores)
            await stores.close()
            return result
        } catch {
            await stores.close()
            throw error
        }
    }

    /// A temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sealpost-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
