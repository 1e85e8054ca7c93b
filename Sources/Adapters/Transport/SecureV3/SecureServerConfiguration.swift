import SealpostWire

/// The secure (protocol v3) server's settings: where it listens and what its HELLO announces
/// (docs/protocol-v3.md §3.2).
public struct SecureServerConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// A session that has not authenticated this long after its TCP connection was accepted
    /// is closed, however far its TLS handshake got (a slow handshake counts too).
    public var authTimeoutSeconds: UInt16
    /// A session with no frame in either direction for this long is closed.
    public var idleTimeoutSeconds: UInt16
    public var maxInFlight: UInt16
    public var deliveryWindow: UInt16
    /// The largest frame `length` accepted; checked before a body is gathered.
    public var maxFrameBytes: UInt32
    public var maxEnvelopeBytes: UInt32
    /// Connections beyond this many are closed as soon as they are accepted.
    public var maxConnections: Int
    /// The server's event loops (threads); `nil` for one per core, or `SEALPOST_IO_THREADS`.
    public var ioThreads: Int?

    public init(host: String = "0.0.0.0", port: Int = 1235, authTimeoutSeconds: UInt16 = 10, idleTimeoutSeconds: UInt16 = 300,
                maxInFlight: UInt16 = 256, deliveryWindow: UInt16 = 256, maxFrameBytes: UInt32 = V3Frame.defaultMaxLength,
                maxEnvelopeBytes: UInt32 = 65_536, maxConnections: Int = 1024, ioThreads: Int? = nil) {
        self.host = host
        self.port = port
        self.authTimeoutSeconds = authTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxInFlight = maxInFlight
        self.deliveryWindow = deliveryWindow
        self.maxFrameBytes = maxFrameBytes
        self.maxEnvelopeBytes = maxEnvelopeBytes
        self.maxConnections = maxConnections
        self.ioThreads = ioThreads.map { max(1, min($0, 256)) }
    }

    /// The HELLO of one connection, with its fresh `nonce`.
    public func hello(nonce: [UInt8]) -> V3Hello {
        V3Hello(nonce: nonce, maxFrameBytes: maxFrameBytes, maxEnvelopeBytes: maxEnvelopeBytes, maxInFlight: maxInFlight,
                deliveryWindow: deliveryWindow, authTimeoutSeconds: authTimeoutSeconds, idleTimeoutSeconds: idleTimeoutSeconds)
    }
}
