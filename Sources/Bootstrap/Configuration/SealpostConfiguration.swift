import Adapters
import Application
import Domain
import Foundation
import SeedWire
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
    /// The protocol v2 server on `server.port`; `server.legacy.enabled: false` turns it off.
    var legacyEnabled = true
    /// The protocol v3 server (its host is `server.host`).
    var secure = SecureServerConfiguration()
    var secureEnabled = true
    var tls = TLSFiles()
    /// `directory.listable`: whether v3 LIST is served.
    var directoryListable = true
    /// `limits.maxAttachmentBytes` and `limits.attachmentTTLDays` (docs/protocol-v3.md §9).
    var maxAttachmentBytes: UInt64 = AccountLimits.defaultMaxAttachmentBytes
    var attachmentTTLDays = 30.0
    /// `limits.rate.*`: the v3 leaky buckets.
    var rates = RateLimits()
    /// `limits.inbox.*`: the v3 inbox cap, and the retry hint of `inboxFull`.
    var inbox = InboxCap()
    var inboxFullRetrySeconds = 60.0
    /// `limits.messageTTLDays`: undelivered v3 envelopes older than this are deleted.
    var messageTTLDays = 30.0

    /// The limits the v3 use cases enforce.
    var accountLimits: AccountLimits {
        var limits = AccountLimits(maxEnvelopeBytes: Int(secure.maxEnvelopeBytes), directoryListable: directoryListable,
                                   rates: rates, inbox: inbox, inboxFullRetrySeconds: inboxFullRetrySeconds)
        limits.maxAttachmentBytes = maxAttachmentBytes
        limits.attachmentTTLDays = attachmentTTLDays
        return limits
    }

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
            if let enabled = server.legacy?.enabled { legacyEnabled = enabled }
            if let secure = server.secure { try apply(secure, source: source) }
        }
        if let listable = file.directory?.listable { directoryListable = listable }
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
        if let limits = file.limits {
            let frame = try Self.range(limits.maxFrameBytes, 1024...(64 << 20), "limits.maxFrameBytes", source) ?? UInt64(secure.maxFrameBytes)
            let envelope = try Self.range(limits.maxEnvelopeBytes, 1...(64 << 20), "limits.maxEnvelopeBytes", source) ?? UInt64(secure.maxEnvelopeBytes)
            // A SEND carries its envelope with a recipient and lengths: 64 bytes cover them.
            guard envelope + 64 <= frame else {
                throw ConfigurationError("\(source): limits.maxEnvelopeBytes (\(envelope)) must be at least 64 bytes below limits.maxFrameBytes (\(frame))")
            }
            secure.maxFrameBytes = UInt32(frame)
            secure.maxEnvelopeBytes = UInt32(envelope)
            try apply(limits, source: source)
            if let value = try Self.range(limits.maxAttachmentBytes, 1...(1 << 40), "limits.maxAttachmentBytes", source) {
                maxAttachmentBytes = value
            }
            if let days = limits.attachmentTTLDays {
                // Fractions of a day are allowed (tests use seconds); at most ten years.
                guard days > 0, days <= 3650, days.isFinite else {
                    throw ConfigurationError("\(source): limits.attachmentTTLDays must be above 0 and at most 3650, not \(days)")
                }
                attachmentTTLDays = days
            }
        }
        if let tls = file.tls {
            if let path = tls.certificate { self.tls.certificate = path }
            if let path = tls.privateKey { self.tls.privateKey = path }
            if let path = tls.directory { self.tls.directory = path }
            guard (self.tls.certificate == nil) == (self.tls.privateKey == nil) else {
                throw ConfigurationError("\(source): tls.certificate and tls.privateKey go together: give both or neither")
            }
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

    private mutating func apply(_ file: ConfigurationFile.Secure, source: String) throws {
        if let enabled = file.enabled { secureEnabled = enabled }
        if let port = file.port { try setSecurePort(port, source: "\(source): server.secure.port") }
        let u16 = UInt64(1)...UInt64(UInt16.max)
        if let value = try Self.range(file.authTimeoutSeconds.map(UInt64.init(clamping:)), u16, "server.secure.authTimeoutSeconds", source) {
            secure.authTimeoutSeconds = UInt16(value)
        }
        if let value = try Self.range(file.idleTimeoutSeconds.map(UInt64.init(clamping:)), u16, "server.secure.idleTimeoutSeconds", source) {
            secure.idleTimeoutSeconds = UInt16(value)
        }
        if let value = try Self.range(file.maxInFlight.map(UInt64.init(clamping:)), u16, "server.secure.maxInFlight", source) {
            secure.maxInFlight = UInt16(value)
        }
        if let value = try Self.range(file.deliveryWindow.map(UInt64.init(clamping:)), u16, "server.secure.deliveryWindow", source) {
            secure.deliveryWindow = UInt16(value)
        }
        if let value = try Self.range(file.maxConnections.map(UInt64.init(clamping:)), 1...1_000_000, "server.secure.maxConnections", source) {
            secure.maxConnections = Int(value)
        }
    }

    /// `limits.rate`, `limits.inbox` and `limits.messageTTLDays`.
    private mutating func apply(_ limits: ConfigurationFile.Limits, source: String) throws {
        func bucket(_ file: ConfigurationFile.Bucket?, _ key: String, _ current: RateLimit) throws -> RateLimit {
            guard let file else { return current }
            let limit = RateLimit(burst: file.burst ?? current.burst, perSecond: file.perSecond ?? current.perSecond)
            guard limit.burst >= 1, limit.burst.isFinite, limit.perSecond > 0, limit.perSecond.isFinite else {
                throw ConfigurationError("\(source): limits.rate.\(key) needs a burst of at least 1 and a positive perSecond")
            }
            return limit
        }
        if let rate = limits.rate {
            rates.sendsPerPair = try bucket(rate.sendsPerPair, "sendsPerPair", rates.sendsPerPair)
            rates.inboundBytesPerRecipient = try bucket(rate.inboundBytesPerRecipient, "inboundBytesPerRecipient", rates.inboundBytesPerRecipient)
            rates.bundleFetches = try bucket(rate.bundleFetches, "bundleFetches", rates.bundleFetches)
            rates.registrations = try bucket(rate.registrations, "registrations", rates.registrations)
            rates.failedAuthentications = try bucket(rate.failedAuthentications, "failedAuthentications", rates.failedAuthentications)
            if let perDay = rate.attachmentBytesPerDay {
                guard perDay >= 1, perDay.isFinite else { throw ConfigurationError("\(source): limits.rate.attachmentBytesPerDay must be at least 1") }
                rates.attachmentBytesPerDay = perDay
            }
        }
        if let file = limits.inbox {
            let messages = file.maxMessages ?? inbox.maxMessages
            let bytes = file.maxBytes ?? inbox.maxBytes
            let share = file.senderSharePercent ?? 25
            guard messages >= 1, bytes >= 1 else {
                throw ConfigurationError("\(source): limits.inbox.maxMessages and limits.inbox.maxBytes must be positive")
            }
            guard (1...100).contains(share) else {
                throw ConfigurationError("\(source): limits.inbox.senderSharePercent must be between 1 and 100")
            }
            inbox = InboxCap(maxMessages: messages, maxBytes: bytes, senderSharePercent: share)
            if let retry = file.retryAfterSeconds {
                guard retry >= 1, retry <= 86_400 else {
                    throw ConfigurationError("\(source): limits.inbox.retryAfterSeconds must be between 1 and 86400")
                }
                inboxFullRetrySeconds = retry
            }
        }
        if let days = limits.messageTTLDays {
            guard days > 0, days <= 3650 else { throw ConfigurationError("\(source): limits.messageTTLDays must be between 0 and 3650") }
            messageTTLDays = days
        }
    }

    /// `value` when it lies in `range`; a clear error naming `key` when it does not.
    private static func range(_ value: UInt64?, _ range: ClosedRange<UInt64>, _ key: String, _ source: String) throws -> UInt64? {
        guard let value else { return nil }
        guard range.contains(value) else {
            throw ConfigurationError("\(source): \(key) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    mutating func setSecurePort(_ port: Int, source: String) throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("\(source): port \(port) is out of range") }
        secure.port = port
    }

    /// The directory of the generated certificate: `tls.directory`, else beside the SQLite
    /// file (`<path>.tls`), else `./sealpost-tls`.
    var certificateDirectory: String {
        if let directory = tls.directory { return directory }
        if case .sqlite(let path) = storage { return path + ".tls" }
        return "sealpost-tls"
    }

    /// The secure server's certificate: the operator's files, or the generated one (made now
    /// if absent).
    func loadCertificate() async throws -> ServerCertificate {
        do {
            if let certificate = tls.certificate, let key = tls.privateKey {
                return try await ServerCertificate.load(certificatePath: certificate, privateKeyPath: key)
            }
            return try await ServerCertificate.loadOrCreate(in: certificateDirectory)
        } catch let failure as ServerCertificate.Failure {
            throw ConfigurationError("tls: \(failure)")
        }
    }

    mutating func setPort(_ port: Int, source: String) throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("\(source): port \(port) is out of range") }
        server.port = port
    }
}

/// The secure server's certificate files (`tls.*`).
struct TLSFiles: Hashable, Sendable {
    /// PEM certificate (leaf first) and PEM private key; both or neither.
    var certificate: String?
    var privateKey: String?
    /// Where the generated certificate is kept when no files are given.
    var directory: String?
}

/// A configuration problem, said in one line.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
