import Adapters
@testable import Application
import Domain
import Synchronization
import Testing

/// Lease renewal costs the store only while something is held: ten thousand idle sessions
/// must not write to it every few seconds.
@Suite("AccountDelivery lease renewal")
struct AccountDeliveryRenewalTests {
    @Test("an idle session renews nothing; one holding an unacknowledged delivery renews its lease")
    func renewsOnlyWhatItHolds() async throws {
        let queue = CountingEnvelopeQueue(InMemoryEnvelopeQueue())
        let notifier = LocalDeliveryNotifier()
        let bob = AccountID(bytes: [UInt8](repeating: 0xB0, count: 16))!
        let alice = AccountID(bytes: [UInt8](repeating: 0xA1, count: 16))!
        // A renewal tick every 20 ms.
        let delivery = AccountDelivery(account: bob, queue: queue, notifier: notifier, clock: ManualClock(), window: 4,
                                       limits: AccountLimits(leaseSeconds: 0.06))
        let recorder = PushRecorder()
        let task = Task { try await delivery.run { recorder.record($0) } }

        // Each tick looks for leases run out elsewhere (a lease call); none renews.
        #expect(await eventually { queue.counts.withLock { $0.leases } >= 6 })
        #expect(queue.counts.withLock { $0.renewals } == 0)

        _ = try await queue.enqueue(to: bob, from: alice, envelope: [1], storedAt: 0)
        notifier.post(.envelopesWaiting, to: bob)
        #expect(await eventually { recorder.envelopes.count == 1 })
        #expect(await eventually { queue.counts.withLock { $0.renewals } >= 3 })

        // Acknowledged: idle again, and the renewals stop.
        #expect(try await delivery.acknowledge(recorder.envelopes.map(\.id)) == 1)
        let renewals = queue.counts.withLock { $0.renewals }
        let leases = queue.counts.withLock { $0.leases }
        #expect(await eventually { queue.counts.withLock { $0.leases } >= leases + 6 })
        // At most one tick that was already under way when the ACK landed.
        #expect(queue.counts.withLock { $0.renewals } <= renewals + 1)
        task.cancel()
        _ = await task.result
        await delivery.end()
    }
}

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
