import Application
import Domain
import Synchronization

/// A real `EnvelopeQueue` that counts the leases and renewals asked of it.
final class CountingEnvelopeQueue: EnvelopeQueue {
    struct Counts {
        var leases = 0
        var renewals = 0
    }

    let counts = Mutex(Counts())
    private let queue: any EnvelopeQueue

    init(_ queue: any EnvelopeQueue) {
        self.queue = queue
    }

    func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) async throws -> MessageID {
        try await queue.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt)
    }

    func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                 within cap: InboxCap) async throws -> InboxAdmission {
        try await queue.enqueue(to: recipient, from: sender, envelope: envelope, storedAt: storedAt, within: cap)
    }

    func expire(storedBefore: UInt64) async throws -> Int {
        try await queue.expire(storedBefore: storedBefore)
    }

    func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) async throws -> [QueuedEnvelope] {
        counts.withLock { $0.leases += 1 }
        return try await queue.lease(for: recipient, to: holder, limit: limit, until: until)
    }

    func acknowledge(_ ids: [MessageID], for recipient: AccountID) async throws -> Int {
        try await queue.acknowledge(ids, for: recipient)
    }

    func renew(_ holder: LeaseHolder, until: UInt64) async throws {
        counts.withLock { $0.renewals += 1 }
        try await queue.renew(holder, until: until)
    }

    func release(_ holder: LeaseHolder) async throws {
        try await queue.release(holder)
    }

    func expireLeases(now: UInt64) async throws -> Int {
        try await queue.expireLeases(now: now)
    }

    func waitingCount(for recipient: AccountID) async throws -> Int {
        try await queue.waitingCount(for: recipient)
    }
}
