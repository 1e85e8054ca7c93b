/// How the TCP transport listens and what it tolerates. Every value comes from configuration.
public struct SeedServerConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// Connections beyond this many are closed as soon as they are accepted.
    public var maxConnections: Int
    /// A connection with neither a read nor a completed write for this long is closed.
    /// The original gives each connection a 10 s socket timeout.
    public var idleTimeoutSeconds: Double
    /// A request's head (and a small request whole) must arrive within this long of the
    /// connection opening, however the bytes trickle in: a client that sends one byte
    /// every few seconds cannot hold a connection for long.
    public var requestDeadlineSeconds: Double
    /// Contents are handed to the store in pieces of this size.
    public var uploadChunkSize: Int
    /// On shutdown, requests already being served get this long to finish before their
    /// connections are closed. Connections that have not started a request are closed at once.
    public var shutdownGraceSeconds: Double
    /// The server's event loops (threads); `nil` for one per core, or `SEALPOST_IO_THREADS`.
    public var ioThreads: Int?

    public init(host: String = "0.0.0.0", port: Int = 1234, maxConnections: Int = 1024, idleTimeoutSeconds: Double = 10, requestDeadlineSeconds: Double? = nil, uploadChunkSize: Int = 256 * 1024, shutdownGraceSeconds: Double = 10, ioThreads: Int? = nil) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.requestDeadlineSeconds = requestDeadlineSeconds ?? max(idleTimeoutSeconds, 30)
        self.uploadChunkSize = uploadChunkSize
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.ioThreads = ioThreads.map { max(1, min($0, 256)) }
    }
}
