import Adapters
import Application
import Logging

/// The stores the configuration chose, ready for the use cases, with a way to close them.
struct OpenedStorage: Sendable {
    // Protocol v2.
    let clients: any ClientDirectory
    let messages: any MessageStore
    // Protocol v3.
    let accounts: any AccountStore
    let envelopes: any EnvelopeQueue
    let notifier: any DeliveryNotifier
    let attachments: any AttachmentStore
    let attachmentQuota: any AttachmentQuota
    let close: @Sendable () async -> Void

    /// Builds the adapters for `configuration`: the one `switch` over the store kinds.
    static func open(_ configuration: StorageConfiguration, limits: ServerLimits, logger: Logger) async throws -> OpenedStorage {
        switch configuration {
        case .memory:
            let messages = InMemoryMessageStore(inlineLimit: limits.inlineContentLimit)
            let attachments = InMemoryAttachmentStore()
            return OpenedStorage(
                clients: InMemoryClientDirectory(), messages: messages, accounts: InMemoryAccountStore(),
                envelopes: InMemoryEnvelopeQueue(), notifier: LocalDeliveryNotifier(), attachments: attachments,
                attachmentQuota: InMemoryAttachmentQuota(),
                close: {
                    await messages.shutdown()
                    await attachments.shutdown()
                })
        case .sqlite(let path):
            // One process owns a SQLite database: its sessions are all told in-process.
            let storage = try await SQLiteStorage.open(path: path, logger: logger, inlineLimit: limits.inlineContentLimit)
            return OpenedStorage(
                clients: storage.clients, messages: storage.messages, accounts: storage.accounts, envelopes: storage.envelopes,
                notifier: LocalDeliveryNotifier(), attachments: storage.attachments,
                attachmentQuota: storage.attachmentQuota, close: { await storage.close() })
        case .postgres(let url, let poolSize, let claimLeaseSeconds):
            var settings = PostgresStorage.Configuration()
            settings.poolSize = poolSize
            settings.claimLease = .milliseconds(Int64(claimLeaseSeconds * 1000))
            settings.inlineLimit = limits.inlineContentLimit
            let storage = try await PostgresStorage.connect(url: url, configuration: settings, logger: logger)
            // Servers sharing the database tell each other's sessions through LISTEN/NOTIFY.
            return OpenedStorage(
                clients: storage.clients, messages: storage.messages, accounts: storage.accounts, envelopes: storage.envelopes,
                notifier: storage.notifier, attachments: storage.attachments,
                attachmentQuota: storage.attachmentQuota, close: { await storage.shutdown() })
        }
    }
}
