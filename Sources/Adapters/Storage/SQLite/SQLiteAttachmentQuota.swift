import Application
import Domain
import Foundation
import GRDB

/// The attachment quota for the SQLite store: one row of `attachment_quota` per account that
/// has uploaded (what its bucket held, and when).
///
/// A charge reads the row, works the bucket out with `LeakyBucket` and writes it back in one
/// write transaction; SQLite has one writer, so concurrent charges are admitted one after
/// another. The transaction runs on GRDB's writer queue, never on an event loop.
public final class SQLiteAttachmentQuota: AttachmentQuota {
    private let pool: DatabasePool

    init(pool: DatabasePool) {
        self.pool = pool
    }

    public func charge(_ bytes: UInt64, to account: AccountID, within limit: RateLimit, now: Double) async throws -> Double {
        let key = Data(account.bytes)
        return try await SQLiteErrors.mapping {
            try await pool.write { db -> Double in
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT level, updated_at FROM attachment_quota WHERE account = ?"), arguments: [key])
                var bucket = row.map { LeakyBucket(limit, level: $0[0], updatedAt: $0[1]) } ?? LeakyBucket(limit, now: now)
                let wait = bucket.take(Double(bytes), now: now)
                guard wait == 0 else { return wait }
                try db.cachedStatement(sql: """
                    INSERT INTO attachment_quota (account, level, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT (account) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at
                    """).execute(arguments: [key, bucket.level, bucket.updatedAt])
                return 0
            }
        }
    }
}
