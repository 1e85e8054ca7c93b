import Application
import Domain
import Synchronization

/// A malicious server's queue: the real queue, except that it can store each envelope twice
/// (a replay, under a new message id) and hand waiting envelopes out newest first.
final class TamperingEnvelopeQueue: EnvelopeQueue {
    let inner: any EnvelopeQueue
    /// Store every envelope sent a second time.
    let replays = Mutex(false)
    /// Lease waiting envelopes in reverse order.
    let reverses = Mutex(false)
    /// A lease that finds nothing waits while this holds, instead of returning: with a
    /// delivery window of 1 (every other lease is full), the session is never told
    /// `caughtUp`, as by a server older than that notice.
    let stallsWhenEmpty = Mutex(false)

    init(_ inner: any EnvelopeQueue) {
        self.inner = inner
    }

    func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) async throws -> MessageID {
        let id = try await inner.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt)
        if replays.withLock({ $0 }) {
            _ = try await inner.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt)
        }
        return id
    }

    func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                 within cap: InboxCap) async throws -> InboxAdmission {
        let admission = try await inner.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt, within: cap)
        if case .stored = admission, replays.withLock({ $0 }) {
            _ = try await inner.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt)
        }
        return admission
    }

    func expire(storedBefore: UInt64) async throws -> Int { try await inner.expire(storedBefore: storedBefore) }

    func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) async throws -> [QueuedEnvelope] {
        let leased = try await inner.lease(for: recipient, to: holder, limit: limit, until: until)
        if leased.isEmpty {
            while stallsWhenEmpty.withLock({ $0 }), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
        }
        return reverses.withLock { $0 } ? leased.reversed() : leased
    }

    func acknowledge(_ ids: [MessageID], for recipient: AccountID) async throws -> Int { try await inner.acknowledge(ids, for: recipient) }
    func renew(_ holder: LeaseHolder, until: UInt64) async throws { try await inner.renew(holder, until: until) }
    func release(_ holder: LeaseHolder) async throws { try await inner.release(holder) }
    func expireLeases(now: UInt64) async throws -> Int { try await inner.expireLeases(now: now) }
    func waitingCount(for recipient: AccountID) async throws -> Int { try await inner.waitingCount(for: recipient) }
}
