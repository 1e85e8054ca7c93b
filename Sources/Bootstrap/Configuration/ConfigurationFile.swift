/// The JSON shape of a configuration file. Every key is optional.
struct ConfigurationFile: Decodable {
    struct Server: Decodable {
        var host: String?
        var port: Int?
        var maxConnections: Int?
        var idleTimeoutSeconds: Double?
        var requestDeadlineSeconds: Double?
        var shutdownGraceSeconds: Double?
        var secure: Secure?
        var legacy: Legacy?
    }
    /// `server.secure`: the protocol v3 server.
    struct Secure: Decodable {
        var enabled: Bool?
        var port: Int?
        var authTimeoutSeconds: Int?
        var idleTimeoutSeconds: Int?
        var maxInFlight: Int?
        var deliveryWindow: Int?
        var maxConnections: Int?
    }
    /// `server.legacy`: the protocol v2 server.
    struct Legacy: Decodable {
        var enabled: Bool?
    }
    /// `tls`: the secure server's certificate.
    struct TLS: Decodable {
        var certificate: String?
        var privateKey: String?
        var directory: String?
    }
    struct Limits: Decodable {
        var maxPayloadBytes: UInt64?
        var inlineContentBytes: UInt64?
        var maxFrameBytes: UInt64?
        var maxEnvelopeBytes: UInt64?
        var maxAttachmentBytes: UInt64?
        var attachmentTTLDays: Double?
        var rate: Rate?
        var inbox: Inbox?
        var messageTTLDays: Double?
    }
    /// `limits.rate.<name>`: a leaky bucket.
    struct Bucket: Decodable {
        var burst: Double?
        var perSecond: Double?
    }
    /// `limits.rate`: the v3 server's leaky buckets.
    struct Rate: Decodable {
        var sendsPerPair: Bucket?
        var inboundBytesPerRecipient: Bucket?
        var bundleFetches: Bucket?
        var registrations: Bucket?
        var failedAuthentications: Bucket?
        var attachmentBytesPerDay: Double?
    }
    /// `limits.inbox`: how much may wait in one v3 inbox.
    struct Inbox: Decodable {
        var maxMessages: Int?
        var maxBytes: Int?
        var senderSharePercent: Int?
        var retryAfterSeconds: Double?
    }
    struct Storage: Decodable {
        struct SQLite: Decodable { var path: String? }
        struct Postgres: Decodable {
            var url: String?
            var poolSize: Int?
            var claimLeaseSeconds: Double?
        }
        var kind: String?
        var sqlite: SQLite?
        var postgres: Postgres?

        /// With no `kind`, the one section present decides.
        var defaultKind: String {
            if postgres != nil && sqlite == nil { return "postgres" }
            return "sqlite"
        }
    }
    struct Logging: Decodable { var level: String? }
    /// `directory`: the v3 account directory.
    struct Directory: Decodable { var listable: Bool? }

    var server: Server?
    var limits: Limits?
    var storage: Storage?
    var logging: Logging?
    var tls: TLS?
    var directory: Directory?
}
