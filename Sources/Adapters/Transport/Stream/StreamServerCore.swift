import CLinuxNet
import Glibc
import Logging
import Synchronization

/// What a stream server tolerates. Every value comes from configuration.
struct StreamServerLimits: Sendable, Hashable {
    /// Connections beyond this many are closed as soon as they are accepted.
    var maxConnections: Int
    /// A connection with neither a read nor a completed write for this long is closed.
    var idleTimeoutSeconds: Double
    /// A request must start within this long of the connection opening.
    var requestDeadlineSeconds: Double
    /// On shutdown, requests in flight get this long before their connections are closed.
    var shutdownGraceSeconds: Double
}

/// What every connection of one server shares.
final class StreamServerCore: Sendable {
    /// Makes the protocol handler of each new connection (on its loop).
    let makeHandler: @Sendable () -> any ConnectionHandler
    let logger: Logger
    let maxConnections: Int
    /// Nanoseconds.
    let idleTimeout: UInt64
    let requestDeadline: UInt64
    /// Nanoseconds that requests in flight get once shutdown began.
    let shutdownGrace: UInt64
    /// When shutdown began (monotonic nanoseconds), 0 while serving.
    private let shutdownStarted = Atomic<UInt64>(0)
    private let count = Atomic<Int>(0)
    private let lastLimitWarning = Atomic<UInt64>(0)

    init(limits: StreamServerLimits, logger: Logger, makeHandler: @escaping @Sendable () -> any ConnectionHandler) {
        self.makeHandler = makeHandler
        self.logger = logger
        self.maxConnections = limits.maxConnections
        self.idleTimeout = Self.nanoseconds(limits.idleTimeoutSeconds)
        self.requestDeadline = Self.nanoseconds(limits.requestDeadlineSeconds)
        self.shutdownGrace = Self.nanoseconds(limits.shutdownGraceSeconds)
    }

    private static func nanoseconds(_ seconds: Double) -> UInt64 {
        UInt64(min(max(0, seconds), 1e9) * 1_000_000_000)
    }

    /// Marks the start of shutdown: from the loops' next sweep (every 50 ms), connections
    /// without a request are closed, and those with one after `shutdownGrace`.
    func beginShutdown() {
        _ = shutdownStarted.compareExchange(expected: 0, desired: max(1, monotonicNanoseconds()), ordering: .relaxed)
    }

    /// What shutdown asks of a connection at `now`.
    enum ShutdownDemand { case none, closeIdle, closeAll }

    func shutdownDemand(now: UInt64) -> ShutdownDemand {
        let started = shutdownStarted.load(ordering: .relaxed)
        if started == 0 { return .none }
        return now &- started >= shutdownGrace ? .closeAll : .closeIdle
    }

    /// Takes a place, or returns `false` when `maxConnections` are taken.
    func connectionStarted() -> Bool {
        let now = count.wrappingAdd(1, ordering: .relaxed).newValue
        if now > maxConnections {
            count.wrappingSubtract(1, ordering: .relaxed)
            // One warning a second at most: a flood must not become a flood of log lines.
            let time = monotonicNanoseconds()
            let last = lastLimitWarning.load(ordering: .relaxed)
            if time &- last >= 1_000_000_000,
               lastLimitWarning.compareExchange(expected: last, desired: time, ordering: .relaxed).exchanged {
                logger.warning("connection limit reached; closing new connections", metadata: ["limit": "\(maxConnections)"])
            }
            return false
        }
        return true
    }

    /// Gives a place back: the connection is closed and its task is done.
    func connectionEnded() {
        count.wrappingSubtract(1, ordering: .relaxed)
    }

    var openConnections: Int { count.load(ordering: .relaxed) }
}

/// A loop's view of the shared listening socket: accepts what the kernel has queued.
final class SocketAcceptor: SocketLoopHandler, @unchecked Sendable {
    private let listener: Int32
    private let loop: SocketLoop
    private let core: StreamServerCore
    /// While descriptors run out, accepting pauses until this time.
    private var pausedUntil: UInt64?

    init(listener: Int32, loop: SocketLoop, core: StreamServerCore) {
        self.listener = listener
        self.loop = loop
        self.core = core
    }

    func ready(_ events: UInt32) {
        for _ in 0..<64 {
            var peer = sockaddr_storage()
            let fd = sealpost_accept(listener, &peer)
            if fd < 0 {
                let code = errno
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    // Out of descriptors or memory: stop watching for a moment rather than
                    // spin on a socket that stays readable.
                    core.logger.error("cannot accept connections", metadata: ["error": "\(String(cString: strerror(code)))"])
                    if !loop.unwatch(listener) {
                        core.logger.error("cannot pause accepting", metadata: ["error": "\(String(cString: strerror(errno)))"])
                    }
                    pausedUntil = monotonicNanoseconds() + 100_000_000
                }
                return
            }
            guard core.connectionStarted() else {
                Glibc.close(fd)
                continue
            }
            // TCP_NODELAY is set only for replies written in several pieces (see
            // `StreamConnection.write`): a one-piece reply followed by close is never held
            // back by Nagle, and the system call is saved on every other connection.
            let connection = StreamConnection(fd: fd, peer: peer, loop: loop, core: core, handler: core.makeHandler(), now: monotonicNanoseconds())
            connection.start()
        }
    }

    func sweep(now: UInt64) {
        if let pausedUntil, now >= pausedUntil {
            self.pausedUntil = nil
            // EPOLLEXCLUSIVE cannot be modified, only added again.
            if !loop.watch(listener, events: sealpost_epoll_in() | sealpost_epoll_exclusive()) {
                self.pausedUntil = now + 100_000_000
            }
        }
    }
}
