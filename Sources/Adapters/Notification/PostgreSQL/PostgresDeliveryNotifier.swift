import Application
import Domain
import Logging

/// Account events between the server processes sharing one PostgreSQL database, over
/// `LISTEN`/`NOTIFY`.
///
/// `post` hands the event to this process's subscriptions at once and sends it to the others
/// with `pg_notify` on a pool connection. One dedicated connection per process listens
/// (`PostgresEventListener`) and hands what the other processes post to the subscriptions
/// here; this process's own posts, echoed back, are recognised by the instance tag in their
/// payload and dropped. After the listening connection was lost and made again, every
/// subscription gets `.envelopesWaiting`, since events may have been missed meanwhile.
///
/// The channel is `sealpost_events`, suffixed with the schema when there is one: deployments
/// in separate schemas of one database do not hear each other.
///
/// A payload is `<instance> e <account>` or `<instance> p <account> <count>`, in hex but the
/// count: ASCII, far under `NOTIFY`'s 8000-byte limit.
public final class PostgresDeliveryNotifier: DeliveryNotifier {
    private let local: LocalDeliveryNotifier
    private let pool: PostgresConnectionPool
    private let listener: PostgresEventListener
    private let channel: String
    /// Tags this process's posts, so that their echoes are dropped.
    private let instance: String
    private let logger: Logger
    /// Concurrent posts share one statement (one round trip) to reach the other processes.
    private let outbox: PostgresBatcher<String, Void>

    /// Starts listening on `conninfo`; returns once the listening connection is up.
    static func start(
        conninfo: String, schema: String?, pool: PostgresConnectionPool, logger: Logger
    ) async throws -> PostgresDeliveryNotifier {
        let channel = channelName(schema: schema)
        let instance = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let local = LocalDeliveryNotifier()
        let listener = try await PostgresEventListener.start(
            conninfo: conninfo, channel: channel, logger: logger,
            receive: { payload in
                guard let (event, account) = PostgresDeliveryNotifier.decode(payload, skipping: instance) else { return }
                local.post(event, to: account)
            },
            reconnected: { local.postToAll(.envelopesWaiting) })
        return PostgresDeliveryNotifier(local: local, pool: pool, listener: listener, channel: channel, instance: instance, logger: logger)
    }

    private init(
        local: LocalDeliveryNotifier, pool: PostgresConnectionPool, listener: PostgresEventListener, channel: String,
        instance: String, logger: Logger
    ) {
        self.local = local
        self.pool = pool
        self.listener = listener
        self.channel = channel
        self.instance = instance
        self.logger = logger
        self.outbox = PostgresBatcher(limit: 256) { payloads in
            // Equal payloads in one transaction reach the listeners once anyway.
            let distinct = Array(Set(payloads)).map { Array($0.utf8) }
            _ = try await pool.withConnection { connection in
                try connection.execute(
                    // A hint need not wait for the WAL flush.
                    prepared: "v3_notify_batch", """
                        SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, convert_from(p, 'UTF8'))
                        FROM unnest($2::bytea[]) AS p
                        """,
                    [.text(channel), .bytesArray(distinct)])
            }
            return payloads.map { _ in () }
        }
    }

    /// Tells this process's subscriptions at once, then the other processes. A failure to
    /// reach them is logged, not thrown: events are hints (see `DeliveryNotifier`).
    public func post(_ event: AccountEvent, to account: AccountID) async {
        local.post(event, to: account)
        do {
            try await outbox.submit(Self.encode(event, to: account, from: instance))
        } catch {
            logger.warning("could not post an account event to the other servers", metadata: ["error": "\(error)"])
        }
    }

    public func subscribe(_ account: AccountID) -> AccountSubscription {
        local.subscribe(account)
    }

    /// The listening connection's server process, for tests that cut it.
    var listenerBackendPID: Int32 { listener.backendPID }

    /// How many times the listening connection was made again, for tests.
    var listenerReconnects: Int { listener.reconnects }

    /// Stops listening and closes the listening connection.
    func stop() async {
        await listener.stop()
    }

    /// `sealpost_events`, or `sealpost_events_` and the schema; names longer than PostgreSQL's
    /// 63-byte identifiers end in a hash of the schema instead.
    static func channelName(schema: String?) -> String {
        guard let schema, !schema.isEmpty else { return "sealpost_events" }
        let name = "sealpost_events_" + schema
        guard name.utf8.count > 63 else { return name }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in schema.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return "sealpost_events_" + String(hash, radix: 16)
    }

    static func encode(_ event: AccountEvent, to account: AccountID, from instance: String) -> String {
        switch event {
        case .envelopesWaiting: "\(instance) e \(account)"
        case .prekeysLow(let count): "\(instance) p \(account) \(count)"
        }
    }

    /// The event in `payload`, unless it came from `instance` or is not understood.
    static func decode(_ payload: String, skipping instance: String) -> (AccountEvent, AccountID)? {
        let fields = payload.split(separator: " ")
        guard fields.count >= 3, fields[0] != instance, let account = AccountID(hex: String(fields[2])) else { return nil }
        switch (fields[1], fields.count) {
        case ("e", 3): return (.envelopesWaiting, account)
        case ("p", 4): return Int(fields[3]).map { (.prekeysLow($0), account) }
        default: return nil
        }
    }
}
