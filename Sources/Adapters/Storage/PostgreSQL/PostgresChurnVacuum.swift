import Synchronization

/// Vacuums a table whose rows churn (the v3 queue: every envelope is inserted, updated by its
/// lease and deleted within seconds) once enough rows died, rather than waiting for autovacuum.
///
/// Autovacuum looks at a database at most once per `autovacuum_naptime` (a minute by
/// default); under load the queue leaves a hundred thousand dead rows in that time, and every
/// index scan of an inbox (a lease, the cap's count) walks past their index entries. A
/// `VACUUM (SKIP_LOCKED, TRUNCATE false)` on a pool connection every `threshold` dead rows
/// keeps the table and its indexes near their live size. One runs at a time per process;
/// another process vacuuming the table meanwhile is skipped, not waited for. Without
/// truncation, VACUUM takes no lock that inserts, updates or deletes wait for.
final class PostgresChurnVacuum: Sendable {
    private struct State {
        var dead = 0
        var running = false
        var runs = 0
    }

    private let table: String
    private let threshold: Int
    private let pool: PostgresConnectionPool
    private let state = Mutex(State())

    /// - Parameters:
    ///   - table: an unqualified table name, found through the connections' `search_path`.
    ///   - threshold: dead rows (updated or deleted) between two vacuums.
    init(table: String, threshold: Int, pool: PostgresConnectionPool) {
        self.table = table
        self.threshold = max(1, threshold)
        self.pool = pool
    }

    /// How many vacuums have been started, for tests.
    var runs: Int { state.withLock { $0.runs } }

    /// `count` rows of the table were updated or deleted; starts a vacuum once enough were.
    func died(_ count: Int) {
        guard count > 0 else { return }
        let start = state.withLock { state -> Bool in
            state.dead += count
            guard state.dead >= threshold, !state.running else { return false }
            state.dead = 0
            state.running = true
            state.runs += 1
            return true
        }
        guard start else { return }
        // TRUNCATE false: giving the empty tail pages back takes an ACCESS EXCLUSIVE lock,
        // which would stop every SEND, lease and ACK while it is held; a queue's tail is
        // empty often, and is filled again at once.
        let (pool, sql) = (pool, "VACUUM (SKIP_LOCKED, TRUNCATE false) \(table)")
        Task {
            // Housekeeping: a failure (the pool closing, the database restarting) only means
            // the next threshold tries again, or autovacuum does it.
            _ = try? await pool.withConnection { connection in try connection.execute(sql) }
            self.state.withLock { $0.running = false }
        }
    }
}
