import Application
import CLinuxNet
import Glibc
import Logging
import NIOCore
import Synchronization

/// The seed protocol over TCP: accepts connections and serves one request on each.
///
/// The transport is the process's `SocketLoops` (one thread per core, each with its own
/// epoll set) sharing one listening socket. A connection stays on the loop that accepted
/// it, and so does its request's task. `bind` listens; `run` waits until `close`, then for
/// the connections in flight to finish, so a shutdown never cuts a reply short.
///
/// It replaces a SwiftNIO server: for one short request per connection, NIO's channel and
/// pipeline set-up cost about half of what the transport itself allows here (see
/// BENCHMARKS.md).
public final class SeedServer: Sendable {
    /// The address the server listens on (with the real port when bound to port 0).
    public let localAddress: SocketAddress
    private let core: SeedServerCore
    private let listener: Int32
    private let loops: [SocketLoop]
    private let state = Mutex(ListenerState())

    private struct ListenerState {
        var closing = false
        var loopsListening = 0
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private init(localAddress: SocketAddress, core: SeedServerCore, listener: Int32, loops: [SocketLoop]) {
        self.localAddress = localAddress
        self.core = core
        self.listener = listener
        self.loops = loops
    }

    /// Starts listening on `configuration.host`:`configuration.port`.
    public static func bind(
        configuration: SeedServerConfiguration,
        useCases: ServerUseCases,
        logger: Logger
    ) async throws -> SeedServer {
        let (listener, address) = try openListener(host: configuration.host, port: configuration.port, backlog: 1024)
        let core = SeedServerCore(
            seed: SeedConnection(useCases: useCases, configuration: configuration, logger: logger),
            configuration: configuration, limits: useCases.limits, logger: logger)
        let loops = SocketLoops.shared
        let server = SeedServer(localAddress: address, core: core, listener: listener, loops: loops)
        server.state.withLock { $0.loopsListening = loops.count }
        // Every loop waits on the listening socket; EPOLLEXCLUSIVE wakes one per connection.
        await withTaskGroup(of: Void.self) { group in
            for loop in loops {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        loop.execute {
                            let acceptor = SocketAcceptor(listener: listener, loop: loop, core: core)
                            if !loop.register(listener, events: sealpost_epoll_in() | sealpost_epoll_exclusive(), handler: acceptor) {
                                logger.error("cannot watch the listening socket", metadata: ["errno": "\(errno)"])
                            }
                            continuation.resume()
                        }
                    }
                }
            }
        }
        return server
    }

    /// Returns once `close()` was called and every connection has been served.
    public func run() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.closed { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        while core.openConnections > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops accepting. `run()` returns once the connections in flight are done.
    public func close() {
        let first = state.withLock { state -> Bool in
            defer { state.closing = true }
            return !state.closing
        }
        guard first else { return }
        core.beginShutdown()
        for loop in loops {
            loop.execute { [self] in
                loop.forget(listener, removeFromEpoll: true)
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.loopsListening -= 1
                    guard state.loopsListening == 0 else { return [] }
                    state.closed = true
                    Glibc.close(listener)
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
        }
    }

    /// Connections being served right now.
    public var openConnections: Int { core.openConnections }

    private static func openListener(host: String, port: Int, backlog: Int32) throws -> (Int32, SocketAddress) {
        guard (0...65535).contains(port) else { throw SocketError.system(call: "bind (port \(port))", errno: EINVAL) }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw SocketError.system(call: "getaddrinfo(\(host)): \(String(cString: gai_strerror(status)))", errno: EINVAL)
        }
        defer { freeaddrinfo(results) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "setsockopt(SO_REUSEADDR)", errno: code)
        }
        guard Glibc.bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "bind \(host):\(port)", errno: code)
        }
        guard listen(fd, backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "listen", errno: code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = Int32(storage.ss_family)
        let address: SocketAddress = withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee) }
            } else {
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee) }
            }
        }
        return (fd, address)
    }
}

/// What every connection of one server shares.
final class SeedServerCore: Sendable {
    let seed: SeedConnection
    let limits: ServerLimits
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

    init(seed: SeedConnection, configuration: SeedServerConfiguration, limits: ServerLimits, logger: Logger) {
        self.seed = seed
        self.limits = limits
        self.logger = logger
        self.maxConnections = configuration.maxConnections
        self.idleTimeout = UInt64(max(0, configuration.idleTimeoutSeconds) * 1_000_000_000)
        self.requestDeadline = UInt64(max(0, configuration.requestDeadlineSeconds) * 1_000_000_000)
        self.shutdownGrace = UInt64(max(0, configuration.shutdownGraceSeconds) * 1_000_000_000)
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
    private let core: SeedServerCore
    /// While descriptors run out, accepting pauses until this time.
    private var pausedUntil: UInt64?

    init(listener: Int32, loop: SocketLoop, core: SeedServerCore) {
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
            // `SocketConnection.write`): a one-piece reply followed by close is never held
            // back by Nagle, and the system call is saved on every other connection.
            let connection = SocketConnection(fd: fd, peer: peer, loop: loop, core: core, now: monotonicNanoseconds())
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
