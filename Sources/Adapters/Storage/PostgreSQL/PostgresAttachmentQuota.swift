import Application
import Domain

/// The attachment quota in PostgreSQL, shared by every server process on the database: one
/// row of `attachment_quota` per account that has uploaded (what its bucket held, and when).
///
/// A charge is one statement, `INSERT … ON CONFLICT DO UPDATE … WHERE fits`, which locks the
/// account's row and works the drained level out from the row as committed: charges at once,
/// in any processes, are admitted one after another, so together they never pass the quota.
/// It is `LeakyBucket.take` in SQL, on the same `double precision` values. A refusal reads the
/// row once more for the time to wait.
public final class PostgresAttachmentQuota: AttachmentQuota {
    private let pool: PostgresConnectionPool

    init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    public func charge(_ bytes: UInt64, to account: AccountID, within limit: RateLimit, now: Double) async throws -> Double {
        let amount = Double(bytes)
        // More than the bucket holds never fits: nothing to ask the database.
        guard amount <= limit.burst else { return .infinity }
        return try await mappingPostgresErrors {
            try await pool.withConnection { connection -> Double in
                // $2 bytes, $3 now, $4 drained a second, $5 burst. A new row is an empty bucket
                // taking `bytes`, which fit (checked above).
                let charged = try connection.execute(prepared: "v3_quota_charge", """
                    INSERT INTO attachment_quota AS q (account, level, updated_at) VALUES ($1, $2, $3)
                    ON CONFLICT (account) DO UPDATE
                    SET level = greatest(0, q.level - greatest(0, $3 - q.updated_at) * $4) + $2,
                        updated_at = greatest(q.updated_at, $3)
                    WHERE greatest(0, q.level - greatest(0, $3 - q.updated_at) * $4) + $2 <= $5
                    RETURNING level
                    """, [.bytes(account.bytes), .float64(amount), .float64(now), .float64(limit.perSecond), .float64(limit.burst)])
                if charged.count == 1 { return 0 }
                let rows = try connection.execute(
                    prepared: "v3_quota_get", "SELECT level, updated_at FROM attachment_quota WHERE account = $1", [.bytes(account.bytes)])
                guard rows.count == 1 else { return 0.001 }
                let bucket = LeakyBucket(limit, level: try rows.double(0, 0), updatedAt: try rows.double(0, 1))
                // Refused a moment ago: if it fits by now, the caller is told to retry at once.
                return max(0.001, bucket.wait(for: amount, now: now))
            }
        }
    }
}
