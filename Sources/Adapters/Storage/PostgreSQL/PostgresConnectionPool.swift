import Logging
import NIOPosix
import Synchronization

/// A fixed number of libpq connections, each used by one holder at a time.
///
/// libpq blocks, so every call runs on the pool's own `NIOThreadPool`, which has one
/// thread per connection: a holder never waits for a thread, and neither NIO event loops
/// nor the cooperative pool are ever blocked by the database. Holders beyond the pool
/// size wait (asynchronously, cancellably) for a checkin. A connection found broken is
/// reconnected before its next use; one left inside a transaction is rolled back.
final class PostgresConnectionPool: Sendable {
    private struct State {
        var idle: [PostgresConnection]
        var waiters: [(id: UInt64, continuation: CheckedContinuation<PostgresConnection, any Error>)] = []
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    /// For log messages.
    let name: String
    private let threads: NIOThreadPool
    private let state: Mutex<State>
    private let logger: Logger

    /// Opens `size` connections to `conninfo`, each running `setup` after connecting.
    static func open(
        name: String, conninfo: String, size: Int, setup: [String], logger: Logger
    ) async throws -> PostgresConnectionPool {
        precondition(size > 0, "a pool needs at least one connection")
        let connections = (0..<size).map { PostgresConnection(number: $0, conninfo: conninfo, setup: setup) }
        let pool = PostgresConnectionPool(name: name, connections: connections, logger: logger)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in connections {
                    group.addTask { try await pool.threads.runIfActive { try connection.open() } }
                }
                try await group.waitForAll()
            }
        } catch {
            await pool.shutdown()
            throw error
        }
        logger.debug("PostgreSQL pool open", metadata: ["pool": "\(name)", "size": "\(size)"])
        return pool
    }

    private init(name: String, connections: [PostgresConnection], logger: Logger) {
        self.name = name
        self.logger = logger
        self.state = Mutex(State(idle: connections))
        self.threads = NIOThreadPool(numberOfThreads: connections.count)
        threads.start()
    }

    /// Checks a connection out, runs `body` on a pool thread, and checks it back in.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let connection = try await checkout()
        defer { checkin(connection) }
        return try await run(on: connection, body)
    }

    /// Runs `body` on a pool thread with a connection the caller has checked out.
    ///
    /// Reconnects first if the connection broke, and rolls back a transaction that an
    /// earlier holder left open (say, an abandoned upload). With `keepTransaction` the
    /// caller's transaction continues instead, and a broken connection is an error.
    func run<T: Sendable>(
        on connection: PostgresConnection, keepTransaction: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let logger = self.logger
        let name = self.name
        do {
            return try await threads.runIfActive {
                if !connection.probe() {
                    // Reconnecting would silently drop the caller's open transaction.
                    if keepTransaction {
                        throw PostgresError(.connection, message: "connection \(connection.number) lost inside a transaction")
                    }
                    logger.warning("PostgreSQL connection broken; reconnecting",
                                   metadata: ["pool": "\(name)", "connection": "\(connection.number)"])
                    try connection.open()
                } else if !keepTransaction && connection.isInTransaction {
                    try connection.execute("ROLLBACK")
                }
                return try body(connection)
            }
        } catch let error as PostgresError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // NIOThreadPool refuses work once shut down.
            throw PostgresError(.shutDown, message: "pool \(name): \(error)")
        }
    }

    /// Takes a connection, waiting for a checkin when all are in use.
    func checkout() async throws -> PostgresConnection {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<PostgresConnection, any Error>? = state.withLock { state in
                    if state.closed { return .failure(PostgresError(.shutDown, message: "pool \(name) is shut down")) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let connection = state.idle.popLast() { return .success(connection) }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Gives a connection back, to the longest waiter if there is one. After shutdown the
    /// connection is closed instead (the holder is done with it, so this is race-free).
    func checkin(_ connection: PostgresConnection) {
        enum Next { case idle, waiter(CheckedContinuation<PostgresConnection, any Error>), close }
        let next: Next = state.withLock { state in
            if state.closed { return .close }
            if state.waiters.isEmpty {
                state.idle.append(connection)
                return .idle
            }
            return .waiter(state.waiters.removeFirst().continuation)
        }
        switch next {
        case .idle: break
        case .waiter(let continuation): continuation.resume(returning: connection)
        case .close: connection.close()
        }
    }

    /// Fails every waiter, closes the connections and stops the threads.
    func shutdown() async {
        let (waiters, idle) = state.withLock { state in
            state.closed = true
            defer { state.waiters = []; state.idle = [] }
            return (state.waiters, state.idle)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(.shutDown, message: "pool \(name) is shut down"))
        }
        // Only idle connections are closed here; those still checked out close at checkin.
        _ = try? await threads.runIfActive { for connection in idle { connection.close() } }
        try? await threads.shutdownGracefully()
    }
}
