import Foundation
import Logging
@testable import Adapters
import Application
import Domain

/// A fresh, empty set of the v3 stores of one kind (`AccountStore`, `EnvelopeQueue`,
/// `DeliveryNotifier`), with a way to dispose of them: the v3 counterpart of `TestStores`.
struct AccountTestStores: Sendable {
    let accounts: any AccountStore
    let envelopes: any EnvelopeQueue
    let notifier: any DeliveryNotifier
    let attachments: any AttachmentStore
    let attachmentQuota: any AttachmentQuota
    let close: @Sendable () async -> Void

    static let logger = Logger(label: "test.v3-stores")

    static func make(_ kind: StoreKind) async throws -> AccountTestStores {
        switch kind {
        case .memory:
            let attachments = InMemoryAttachmentStore()
            return AccountTestStores(
                accounts: InMemoryAccountStore(), envelopes: InMemoryEnvelopeQueue(), notifier: LocalDeliveryNotifier(),
                attachments: attachments, attachmentQuota: InMemoryAttachmentQuota(), close: { await attachments.shutdown() })
        case .sqlite:
            let directory = try TestStores.temporaryDirectory()
            let storage = try await SQLiteStorage.open(path: directory.appendingPathComponent("test.db").path, logger: logger)
            return AccountTestStores(
                accounts: storage.accounts, envelopes: storage.envelopes, notifier: LocalDeliveryNotifier(),
                attachments: storage.attachments, attachmentQuota: storage.attachmentQuota, close: {
                    await storage.close()
                    try? FileManager.default.removeItem(at: directory)
                })
        case .postgres:
            let schema = PostgresSchema.fresh()
            let storage = try await PostgresSchema.connect(schema)
            return AccountTestStores(
                accounts: storage.accounts, envelopes: storage.envelopes, notifier: storage.notifier,
                attachments: storage.attachments, attachmentQuota: storage.attachmentQuota,
                close: { await PostgresSchema.drop(schema, closing: storage) })
        }
    }

    /// Runs `body` over fresh stores of `kind` and closes them however `body` ends.
    static func with<T>(_ kind: StoreKind, _ body: (AccountTestStores) async throws -> T) async throws -> T {
        let stores = try await make(kind)
        do {
            let result = try await body(stores)
            await stores.close()
            return result
        } catch {
            await stores.close()
            throw error
        }
    }
}

/// Fresh PostgreSQL schemas for the v3 stores' tests, dropped afterwards.
enum PostgresSchema {
    static func fresh() -> String { "t3_\(UInt64.random(in: 0...UInt64.max))" }

    /// A `PostgresStorage` on `schema` (created and migrated when new): one server process's
    /// worth. Several may share a schema.
    static func connect(_ schema: String) async throws -> PostgresStorage {
        guard let url = StoreKind.postgresURL else {
            throw TestSetupError("SEALPOST_TEST_POSTGRES_URL is not set: start a server with scripts/pg-test-cluster")
        }
        var settings = PostgresStorage.Configuration()
        settings.poolSize = 4
        settings.uploadPoolSize = 1
        return try await PostgresStorage.connect(url: url, schema: schema, configuration: settings, logger: AccountTestStores.logger)
    }

    /// Drops `schema` through `storage`, then shuts it down.
    static func drop(_ schema: String, closing storage: PostgresStorage) async {
        _ = try? await storage.messages.pool.withConnection { connection in
            try connection.execute("DROP SCHEMA \(PostgresMigrations.quoteIdentifier(schema)) CASCADE")
        }
        await storage.shutdown()
    }
}

/// Accounts, prekeys and envelopes for the v3 stores' tests. The keys are patterns, not
/// keys: the stores keep them and never look inside.
enum V3Fixtures {
    /// An account id whose 16 bytes are all `byte`, but the last, which is `low`.
    static func accountID(_ byte: UInt8, _ low: UInt8 = 0) -> AccountID {
        AccountID(bytes: Array(repeating: byte, count: 15) + [low])!
    }

    static func account(_ id: AccountID, _ name: String) throws -> Account {
        let seed = id.bytes[0] &+ id.bytes[15]
        return Account(
            id: id, name: try AccountName(name),
            identity: IdentityKeys(
                signingKey: try SigningPublicKey(bytes: pattern(32, seed)),
                agreementKey: try AgreementPublicKey(bytes: pattern(32, seed &+ 1)),
                agreementKeySignature: try Signature(bytes: pattern(64, seed &+ 2))))
    }

    /// A prekey with id `id`; `variant` changes its key and signature but not its id.
    static func prekey(_ id: UInt32, variant: UInt8 = 0) throws -> Prekey {
        let seed = UInt8(truncatingIfNeeded: id) &+ variant &* 31
        return Prekey(
            id: id, publicKey: try AgreementPublicKey(bytes: pattern(32, seed)), signature: try Signature(bytes: pattern(64, seed &+ 7)))
    }

    static func prekeys(_ ids: ClosedRange<UInt32>) throws -> [Prekey] {
        try ids.map { try prekey($0) }
    }

    private static func pattern(_ count: Int, _ seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed }
    }
}
