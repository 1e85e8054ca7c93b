import Adapters
import Application
import Foundation
import Logging

/// Which store the server runs on: the only place the choice is made.
enum StorageConfiguration: Hashable, Sendable {
    case memory
    case sqlite(path: String)
    /// `claimLeaseSeconds`: how long a pull's claim hides its messages from other pulls
    /// if its server dies before finishing (renewed while the reply is written).
    case postgres(url: String, poolSize: Int, claimLeaseSeconds: Double)

    var kindName: String {
        switch self {
        case .memory: "memory"
        case .sqlite: "sqlite"
        case .postgres: "postgres"
        }
    }
}

/// Everything the server needs to start, parsed once at the edge.
struct SealpostConfiguration: Hashable, Sendable {
    var server = SeedServerConfiguration()
    var limits = ServerLimits()
    var storage = StorageConfiguration.sqlite(path: "sealpost.db")
    var logLevel = Logger.Level.info

    /// Reads a JSON configuration file (see `config/`) over `base`: keys left out keep
    /// the values of `base`.
    static func load(from path: String, over base: SealpostConfiguration = SealpostConfiguration()) throws -> SealpostConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read configuration file \(path): \(error.localizedDescription)")
        }
        let file: ConfigurationFile
        do {
            file = try JSONDecoder().decode(ConfigurationFile.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationError("\(path): not valid JSON: \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigurationError("\(path): \(key): \(context.debugDescription)")
        } catch {
            throw ConfigurationError("\(path): \(error)")
        }
        var configuration = base
        try configuration.apply(file, source: path)
        return configuration
    }

    mutating func apply(_ file: ConfigurationFile, source: String) throws {
        if let server = file.server {
            if let host = server.host { self.server.host = host }
            if let port = server.port { try setPort(port, source: "\(source): server.port") }
            if let value = server.maxConnections {
                guard value > 0 else { throw ConfigurationError("\(source): server.maxConnections must be positive") }
                self.server.maxConnections = value
            }
            if let value = server.idleTimeoutSeconds {
                guard value > 0 else { throw ConfigurationError("\(source): server.idleTimeoutSeconds must be positive") }
                self.server.idleTimeoutSeconds = value
                self.server.requestDeadlineSeconds = max(self.server.requestDeadlineSeconds, value)
            }
            if let value = server.shutdownGraceSeconds {
                guard value >= 0 else { throw ConfigurationError("\(source): server.shutdownGraceSeconds must not be negative") }
                self.server.shutdownGraceSeconds = value
            }
            if let value = server.requestDeadlineSeconds {
                guard value > 0 else { throw ConfigurationError("\(source): server.requestDeadlineSeconds must be positive") }
                self.server.requestDeadlineSeconds = value
            }
        }
        if let limits = file.limits {
            let payload = limits.maxPayloadBytes ?? UInt64(self.limits.maxPayload)
            let inline = limits.inlineContentBytes ?? UInt64(self.limits.inlineContentLimit)
            // Protocol v2 cannot carry a larger content in a 1004 (docs/protocol-v2.md §6).
            guard payload >= 1, payload <= UInt64(SeedResponse.largestContent) else {
                throw ConfigurationError("\(source): limits.maxPayloadBytes must be between 1 and \(SeedResponse.largestContent)")
            }
            guard inline <= 16 * 1024 * 1024 else {
                throw ConfigurationError("\(source): limits.inlineContentBytes must be at most 16 MiB")
            }
            self.limits = ServerLimits(maxPayload: UInt32(payload), inlineContentLimit: UInt32(inline))
        }
        if let storage = file.storage {
            let kind = storage.kind ?? storage.defaultKind
            storageKind: switch kind {
            case "memory":
                self.storage = .memory
            case "sqlite":
                self.storage = .sqlite(path: storage.sqlite?.path ?? "sealpost.db")
            case "postgres", "postgresql":
                guard let url = storage.postgres?.url else {
                    throw ConfigurationError("\(source): storage.postgres.url is required for the postgres store")
                }
                let pool = storage.postgres?.poolSize ?? 8
                guard pool > 0 else { throw ConfigurationError("\(source): storage.postgres.poolSize must be positive") }
                let lease = storage.postgres?.claimLeaseSeconds ?? 600
                // Renewals come every 60 s while a reply is written; a shorter lease could
                // run out between two of them.
                guard lease >= 90, lease.isFinite else {
                    throw ConfigurationError("\(source): storage.postgres.claimLeaseSeconds must be at least 90")
                }
                self.storage = .postgres(url: url, poolSize: pool, claimLeaseSeconds: lease)
            default:
                throw ConfigurationError("\(source): storage.kind must be memory, sqlite or postgres, not \"\(kind)\"")
            }
        }
        if let level = file.logging?.level {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw ConfigurationError("\(source): logging.level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logLevel = parsed
        }
    }

    mutating func setPort(_ port: Int, source: String) throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("\(source): port \(port) is out of range") }
        server.port = port
    }
}

/// A configuration problem, said in one line.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
