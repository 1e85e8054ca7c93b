import Adapters
import Application
import ArgumentParser
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// `sealpost serve`: runs the server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Sealpost server.",
        discussion: """
            With no options it serves SQLite in ./sealpost.db on port 1234 (or the port in \
            ./port.info, as the original server did). A configuration file sets everything; \
            options given here override it.
            """
    )

    @Option(name: .long, help: "A JSON configuration file (see config/).")
    var config: String?

    @Option(name: .long, help: "The address to listen on.")
    var host: String?

    @Option(name: .long, help: "The TCP port (0 picks a free one).")
    var port: Int?

    @Option(name: .long, help: "The secure (protocol v3, TLS) server's TCP port (0 picks a free one).")
    var securePort: Int?

    @Option(name: .long, help: "Where the generated TLS certificate is kept (when tls.certificate is not set).")
    var tlsDirectory: String?

    @Option(name: .long, help: "The store: memory, sqlite or postgres.")
    var store: String?

    @Option(name: .long, help: "The SQLite database file (selects the sqlite store).")
    var sqlitePath: String?

    @Option(name: .long, help: "The PostgreSQL URL (selects the postgres store).")
    var postgresUrl: String?

    @Option(name: .long, help: "The log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Started as root: the user to become once the ports are bound (root is then given up for good).")
    var user: String?

    @Flag(name: .long, help: "Let the server run as root without --user on an address other than loopback.")
    var allowRoot = false

    func validate() throws {
        if let store, !["memory", "sqlite", "postgres"].contains(store) {
            throw ValidationError("--store must be memory, sqlite or postgres, not \"\(store)\"")
        }
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port must be between 0 and 65535")
        }
        if let securePort, !(0...65535).contains(securePort) {
            throw ValidationError("--secure-port must be between 0 and 65535")
        }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if store == "postgres", postgresUrl == nil, config == nil {
            throw ValidationError("--store postgres needs --postgres-url or a configuration file that names one")
        }
    }

    func run() async throws {
        MallocArenas.limitToCores()
        let configuration = try resolveConfiguration()
        let target = try checkPrivileges(host: configuration.server.host)
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sealpost")
        // The certificate first: a bad tls.* setting stops the server before it opens the store.
        var secureCertificate: ServerCertificate?
        var secureServer: SecureServer?
        var attachmentUseCases: ManageAttachments?
        if configuration.secureEnabled {
            let certificate = try await configuration.loadCertificate()
            for warning in certificate.warnings { logger.warning("tls: \(warning)") }
            if case .generated(let path, true) = certificate.origin {
                logger.notice("tls: made a self-signed certificate in \(path)")
            }
            secureCertificate = certificate
        }
        let storage = try await OpenedStorage.open(configuration.storage, limits: configuration.limits, logger: logger)
        do {
            try await storage.messages.recover()
            if let certificate = secureCertificate {
                var secure = configuration.secure
                secure.host = configuration.server.host
                let useCases = AccountUseCases(
                    accounts: storage.accounts, queue: storage.envelopes, notifier: storage.notifier,
                    verifier: OpenSSLSignatureVerifier(), clock: SystemWallClock(), limits: configuration.accountLimits,
                    attachments: storage.attachments, attachmentQuota: storage.attachmentQuota)
                attachmentUseCases = useCases.attachments
                secureServer = try await SecureServer.bind(
                    configuration: secure, certificate: certificate, router: SecureRequestRouter(useCases: useCases), logger: logger)
            }
            if let target {
                // The ports are bound and the store is open: hand over what the server writes
                // from now on, then stop being root.
                try PrivilegeDrop.handOver(writablePaths(configuration, secure: secureServer != nil), to: target)
                try PrivilegeDrop.become(target)
                logger.notice("running as \(target.name) (uid \(target.uid), gid \(target.gid))")
            }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            // Lines for scripts to wait on, printed once signals are handled (see the services):
            // the legacy server's first, as before.
            var lines = ""
            if configuration.legacyEnabled {
                let useCases = ServerUseCases(
                    directory: storage.clients, store: storage.messages, limits: configuration.limits,
                    clock: SystemWallClock())
                let server = try await SeedServer.bind(configuration: configuration.server, useCases: useCases, logger: logger)
                let address = server.localAddress
                lines += "sealpost listening on \(address.ipAddress ?? configuration.server.host):\(address.port ?? configuration.server.port) (store: \(configuration.storage.kindName))\n"
                services.append(.init(service: SeedServerService(server: server, logger: logger)))
            }
            if let secureServer {
                let address = secureServer.localAddress
                lines += "secure: listening on \(address.ipAddress ?? configuration.server.host):\(address.port ?? configuration.secure.port) (TLS 1.3, \(SecureServer.applicationProtocol)), fingerprint \(secureServer.certificate.fingerprint.hex)\n"
                services.append(.init(service: SecureServerService(server: secureServer, logger: logger)))
            }
            services.append(.init(service: AnnouncementService(text: lines), successTerminationBehavior: .ignore))
            services.append(.init(service: StoreHousekeepingService(store: storage.messages, interval: .seconds(60), logger: logger)))
            if secureServer != nil {
                services.append(.init(service: LeaseHousekeepingService(
                    queue: storage.envelopes, clock: SystemWallClock(), interval: .seconds(10), logger: logger)))
                services.append(.init(service: MessageExpiryService(
                    queue: storage.envelopes, clock: SystemWallClock(), timeToLiveSeconds: configuration.messageTTLDays * 86_400,
                    interval: .seconds(3600), logger: logger)))
            }
            if let attachmentUseCases {
                services.append(.init(service: AttachmentHousekeepingService(
                    attachments: attachmentUseCases, interval: AttachmentHousekeepingService.interval(ttlDays: configuration.attachmentTTLDays),
                    logger: logger)))
            }
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await secureServer?.shutdown()
            await storage.close()
            throw error
        }
        await secureServer?.shutdown()
        await storage.close()
        logger.info("stopped")
    }

    /// The user to become (`--user`), or `nil` to stay as started. As root without `--user`,
    /// the server runs only on a loopback address, or with `--allow-root`.
    func checkPrivileges(host: String) throws -> PrivilegeDrop.Target? {
        guard let user else {
            if PrivilegeDrop.isRoot && !allowRoot && !Self.isLoopback(host) {
                throw ValidationError("""
                    refusing to serve \(host) as root: give --user NAME to drop root once the ports are bound, \
                    or --allow-root to run as root anyway (see "Running as an unprivileged user" in README.md)
                    """)
            }
            return nil
        }
        guard PrivilegeDrop.isRoot else { throw ValidationError("--user needs the server to be started as root") }
        return try PrivilegeDrop.lookUp(user)
    }

    /// Whether `host` is reachable from this machine only.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// What the server writes after dropping root: the SQLite database with its WAL, shared
    /// memory and blobs, and the generated certificate's directory.
    func writablePaths(_ configuration: SealpostConfiguration, secure: Bool) -> [String] {
        var paths: [String] = []
        if case .sqlite(let path) = configuration.storage {
            paths += [path, path + "-wal", path + "-shm", path + "-journal", path + ".blobs"]
        }
        if secure, configuration.tls.certificate == nil { paths.append(configuration.certificateDirectory) }
        return paths
    }

    /// Defaults, then ./port.info, then the configuration file, then the options.
    func resolveConfiguration() throws -> SealpostConfiguration {
        var configuration = SealpostConfiguration()
        if let port = Self.legacyPortFile() {
            try configuration.setPort(port, source: "port.info")
        }
        if let config {
            configuration = try SealpostConfiguration.load(from: config, over: configuration)
        }
        if let host { configuration.server.host = host }
        if let port { try configuration.setPort(port, source: "--port") }
        if let securePort { try configuration.setSecurePort(securePort, source: "--secure-port") }
        if let tlsDirectory { configuration.tls.directory = tlsDirectory }
        if let logLevel, let level = Logger.Level(rawValue: logLevel) { configuration.logLevel = level }
        if let sqlitePath, store == nil || store == "sqlite" { configuration.storage = .sqlite(path: sqlitePath) }
        if let postgresUrl, store == nil || store == "postgres" {
            var (pool, lease) = (8, 600.0)
            if case .postgres(_, let size, let seconds) = configuration.storage { (pool, lease) = (size, seconds) }
            configuration.storage = .postgres(url: postgresUrl, poolSize: pool, claimLeaseSeconds: lease)
        }
        switch store {
        case "memory": configuration.storage = .memory
        case "sqlite":
            if case .sqlite = configuration.storage {} else { configuration.storage = .sqlite(path: sqlitePath ?? "sealpost.db") }
        case "postgres":
            if case .postgres = configuration.storage {} else {
                throw ValidationError("--store postgres needs --postgres-url or a configuration file that names one")
            }
        default: break
        }
        guard configuration.legacyEnabled || configuration.secureEnabled else {
            throw ValidationError("server.legacy.enabled and server.secure.enabled are both false: nothing to serve")
        }
        return configuration
    }

    /// The port in ./port.info (the original server's file: one number), if present.
    static func legacyPortFile() -> Int? {
        guard let text = try? String(contentsOfFile: "port.info", encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
