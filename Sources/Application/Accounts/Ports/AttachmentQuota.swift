import Domain

/// Where each account's attachment quota lives (`limits.rate.attachmentBytesPerDay`,
/// docs/protocol-v3.md §7.1): one leaky bucket of bytes per account, kept by the store, so
/// that on PostgreSQL the quota holds exactly across every server process sharing the
/// database, as the inbox cap does.
///
/// Contract (checked by the shared storage suite for every adapter):
/// - `charge` is `LeakyBucket.take` on the account's bucket, read and written in one atomic
///   step: charges at once, from any sessions or processes, are admitted as if one after
///   another, so together they never pour in more than the bucket holds.
/// - An account never charged has an empty bucket; the bucket drains at `limit.perSecond`
///   from the last charge's `now`; a `now` earlier than that drains nothing and leaves the
///   bucket's time where it was.
/// - A refused charge pours nothing in and returns the seconds until it would fit:
///   `infinity` when it never will (more than `limit.burst`, or a bucket that does not drain).
/// - The limit is the caller's, given with each charge: the store keeps only what each
///   bucket held and when.
public protocol AttachmentQuota: Sendable {
    /// Pours `bytes` into `account`'s bucket of `limit` at `now` (seconds since 1970) when
    /// they fit, and returns 0; otherwise pours nothing and returns the seconds to wait.
    func charge(_ bytes: UInt64, to account: AccountID, within limit: RateLimit, now: Double) async throws -> Double
}
