import CLibPQ
import CLinuxNet
import Foundation
import Glibc
import Logging
import Synchronization

/// One dedicated libpq connection that runs `LISTEN` on a channel and hands every
/// notification's payload to `receive`, on a thread of its own: it blocks in `poll(2)` on the
/// connection's socket, never on an event loop or the cooperative pool.
///
/// When the connection drops (or stays silent through TCP keepalive probes) it reconnects, waiting 50 ms after the first failure and twice as
/// long after each next one, up to `maxBackoff`; once listening again it calls `reconnected`,
/// since notifications sent meanwhile are lost. `stop()` wakes the thread through an eventfd.
final class PostgresEventListener: Sendable {
    private struct State {
        var stopped = false
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var started: CheckedContinuation<Void, any Error>?
        var backendPID: Int32 = 0
        var reconnects = 0
    }

    private let conninfo: String
    private let channel: String
    private let maxBackoff: Duration
    private let receive: @Sendable (String) -> Void
    private let reconnected: @Sendable () -> Void
    private let logger: Logger
    private let wake: Int32
    private let state = Mutex(State())

    /// Starts the thread and returns once it listens.
    ///
    /// - Throws: `PostgresError` when the first connection or `LISTEN` fails.
    static func start(
        conninfo: String, channel: String, maxBackoff: Duration = .seconds(2), logger: Logger,
        receive: @escaping @Sendable (String) -> Void, reconnected: @escaping @Sendable () -> Void
    ) async throws -> PostgresEventListener {
        let listener = PostgresEventListener(
            conninfo: conninfo, channel: channel, maxBackoff: maxBackoff, logger: logger, receive: receive, reconnected: reconnected)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            listener.state.withLock { $0.started = continuation }
            let thread = Thread { listener.run() }
            thread.start()
        }
        return listener
    }

    private init(
        conninfo: String, channel: String, maxBackoff: Duration, logger: Logger,
        receive: @escaping @Sendable (String) -> Void, reconnected: @escaping @Sendable () -> Void
    ) {
        self.conninfo = conninfo
        self.channel = channel
        self.maxBackoff = maxBackoff
        self.logger = logger
        self.receive = receive
        self.reconnected = reconnected
        self.wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
    }

    deinit {
        if wake >= 0 { Glibc.close(wake) }
    }

    /// The server process of the current connection (0 between connections), for tests that
    /// end it with `pg_terminate_backend`.
    var backendPID: Int32 { state.withLock { $0.backendPID } }

    /// How many times the connection was made again after a drop, for tests.
    var reconnects: Int { state.withLock { $0.reconnects } }

    /// Ends the thread and returns once it has closed its connection.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state -> Bool in
                state.stopped = true
                if !state.exited { state.exitWaiters.append(continuation) }
                return state.exited
            }
            if exited {
                continuation.resume()
                return
            }
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { Glibc.write(wake, $0.baseAddress, 8) }
        }
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    // MARK: - The thread

    private func run() {
        _ = "sealpost-listen".withCString { sealpost_set_thread_name(pthread_self(), $0) }
        var backoff = Duration.milliseconds(50)
        var everListened = false
        while !isStopped {
            switch connectAndListen() {
            case .success(let connection):
                state.withLock { state in
                    state.backendPID = PQbackendPID(connection)
                    if everListened { state.reconnects += 1 }
                }
                if everListened {
                    logger.info("PostgreSQL event listener reconnected", metadata: ["channel": "\(channel)"])
                    reconnected()
                } else {
                    everListened = true
                    state.withLock { state in
                        defer { state.started = nil }
                        return state.started
                    }?.resume()
                }
                backoff = .milliseconds(50)
                listen(on: connection)
                state.withLock { $0.backendPID = 0 }
                PQfinish(connection)
            case .failure(let error):
                if !everListened {
                    // The first connection is the caller's to report.
                    state.withLock { state in
                        state.stopped = true
                        defer { state.started = nil }
                        return state.started
                    }?.resume(throwing: error)
                    break
                }
                logger.warning("PostgreSQL event listener cannot reconnect", metadata: ["error": "\(error)", "retryIn": "\(backoff)"])
                waitForWake(timeout: backoff)
                backoff = min(backoff * 2, maxBackoff)
            }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.exited = true
            defer { state.exitWaiters = [] }
            return state.exitWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Connects and runs `LISTEN`. Blocking.
    private func connectAndListen() -> Result<OpaquePointer, PostgresError> {
        guard let connection = PQconnectdb(conninfo) else {
            return .failure(PostgresError(.connection, message: "libpq could not allocate a connection"))
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.text(PQerrorMessage(connection))
            PQfinish(connection)
            return .failure(PostgresError(.connection, message: message))
        }
        let result = PQexec(connection, "LISTEN \(PostgresMigrations.quoteIdentifier(channel))")
        defer { PQclear(result) }
        guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else {
            let message = Self.text(PQerrorMessage(connection))
            PQfinish(connection)
            return .failure(PostgresError(.connection, message: "LISTEN failed: \(message)"))
        }
        return .success(connection)
    }

    /// Waits for notifications until the connection drops or `stop()` is called. Blocking.
    private func listen(on connection: OpaquePointer) {
        let socket = PQsocket(connection)
        Self.probeWhenIdle(socket)
        while !isStopped {
            var fds = [
                pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("poll failed in the PostgreSQL event listener", metadata: ["errno": "\(errno)"])
                return
            }
            if fds[1].revents != 0 { return }
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
                logger.warning("PostgreSQL event listener lost its connection", metadata: ["error": "\(Self.text(PQerrorMessage(connection)))"])
                return
            }
            while let notification = PQnotifies(connection) {
                let payload = notification.pointee.extra.map { String(cString: $0) } ?? ""
                PQfreemem(notification)
                receive(payload)
            }
        }
    }

    /// A listener only reads, so a peer that vanished without closing (a network cut, a
    /// host gone) would leave it waiting forever: TCP keepalive probes after 30 s of silence,
    /// every 10 s, three times, turn that into a socket error within about a minute. Fails
    /// quietly on a Unix-domain socket, which needs none.
    private static func probeWhenIdle(_ socket: Int32) {
        let size = socklen_t(MemoryLayout<Int32>.size)
        var on: Int32 = 1
        var idle: Int32 = 30
        var interval: Int32 = 10
        var count: Int32 = 3
        _ = setsockopt(socket, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
    }

    /// Sleeps up to `timeout`, or until `stop()`. Blocking.
    private func waitForWake(timeout: Duration) {
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
    }

    private static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "unknown libpq error" }
        return String(cString: pointer).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
