import Adapters
import Application
import Logging

/// The stores the configuration chose, ready for the use cases, with a way to close them.
struct OpenedStorage: Sendable {
    let clients: any ClientDirectory
    let messages: any MessageStore
    let close: @Sendable () async -> Void

    /// Builds the adapters for `configuration`: the one `switch` over the store kinds.
    static func open(_ configuration: StorageConfiguration, limits: ServerLimits, logger: Logger) async throws -> OpenedStorage {
        switch configuration {
        case .memory:
            let messages = InMemoryMessageStore(inlineLimit: limits.inlineContentLimit)
            return OpenedStorage(clients: InMemoryClientDirectory(), messages: messages, close: { await messages.shutdown() })
        case .sqlite(let path):
            let storage = try await SQLiteStorage.open(path: path, logger: logger, inlineLimit: limits.inlineContentLimit)
            return OpenedStorage(clients: storage.clients, messages: storage.messages, close: { await storage.close() })
        case .postgres(let url, let poolSize, let claimLeaseSeconds):
            var settings = PostgresStorage.Configuration()
            settings.poolSize = poolSize
            settings.claimLease = .milliseconds(Int64(claimLeaseSeconds * 1000))
            settings.inlineLimit = limits.inlineContentLimit
            let storage = try await PostgresStorage.connect(url: url, configuration: settings, logger: logger)
            return OpenedStorage(clients: storage.clients, messages: storage.messages, close: { await storage.shutdown() })
        }
    }
}
